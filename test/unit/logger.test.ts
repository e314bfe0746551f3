// --log-format=text: pino's lines as logfmt, the way kured (logrus) writes them.
import { describe, expect, it } from 'vitest';
import { createLogger, textLine } from '../../operator/runtime/logger.ts';

describe('log format', () => {
  it('text: time, level, msg first, then the fields; values quoted only when they need it', () => {
    const lines: string[] = [];
    const log = createLogger('info', 'text', { component: 'controller' }, { write: (s) => lines.push(s) });
    log
      .child({ node: 'n1', phase: 'draining' })
      .warn({ reason: 'drain-timeout', blockedBy: 'shop/web-0 (PDB)' }, 'drain did not finish');
    log.debug('not shown at info');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z" level=warning msg="drain did not finish" component=controller node=n1 phase=draining reason=drain-timeout blockedBy="shop\/web-0 \(PDB\)"\n$/,
    );
  });

  it('json stays pino’s JSON; a line that is not JSON passes through', () => {
    const lines: string[] = [];
    createLogger('info', 'json', { component: 'agent' }, { write: (s) => lines.push(s) }).info(
      { node: 'n1' },
      'up',
    );
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, msg: 'up', component: 'agent', node: 'n1' });
    expect(textLine('plain words')).toBe('plain words\n');
    expect(textLine('{"level":50,"time":0,"msg":"x","err":{"code":"E"}}')).toBe(
      'time="1970-01-01T00:00:00.000Z" level=error msg="x" err="{\\"code\\":\\"E\\"}"\n',
    );
  });
});
