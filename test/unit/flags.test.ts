import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agentOptions } from '../../operator/agent/config.ts';
import { bool, duration, int, oneOf, type SafeResult, text } from '../../operator/config/flags.ts';
import { ConfigError, parseOptions } from '../../operator/config/options.ts';
import { boolString } from '../../operator/config/zod-values.ts';
import { commonOptions } from '../../operator/runtime/command-runtime.ts';

const messages = (r: SafeResult<unknown>) => (r.success ? [] : r.error.issues.map((i) => i.message));

function problems(argv: string[]): string[] {
  try {
    parseOptions(agentOptions, argv, {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe("flags.ts (the agent's flag parsers, without zod)", () => {
  it('text: non-empty by default, a pattern with its own message, checks, defaults and optional', () => {
    expect(text().safeParse('x')).toEqual({ success: true, data: 'x' });
    expect(messages(text().safeParse(''))).toEqual(['must not be empty']);
    expect(messages(text().safeParse(undefined))).toEqual(['is required']);
    const name = text({ pattern: /^[a-z]+$/, message: 'lowercase only' });
    expect(messages(name.safeParse('Ab'))).toEqual(['lowercase only']);
    const abs = text().check((s) => s.startsWith('/'), 'must be an absolute path');
    expect(messages(abs.safeParse('rel'))).toEqual(['must be an absolute path']);
    expect(abs.default('/x').safeParse(undefined)).toEqual({ success: true, data: '/x' });
    expect(messages(abs.default('/x').safeParse('rel'))).toEqual(['must be an absolute path']);
    expect(text().optional().safeParse(undefined)).toEqual({ success: true, data: undefined });
  });

  it('oneOf, int: exact words, whole numbers in range', () => {
    const level = oneOf(['debug', 'info'], 'must be debug or info');
    expect(level.safeParse('info')).toEqual({ success: true, data: 'info' });
    expect(messages(level.safeParse('INFO'))).toEqual(['must be debug or info']);
    const port = int({ min: 0, max: 65535 });
    expect(port.safeParse('9746')).toEqual({ success: true, data: 9746 });
    expect(messages(port.safeParse('70000'))).toEqual(['must be at most 65535']);
    expect(messages(port.safeParse('-1'))).toEqual(['must be at least 0']);
    for (const bad of ['abc', '1.5', '', '0x10', '1e3'])
      expect(messages(port.safeParse(bad))).toEqual(['must be a whole number']);
  });

  it("bool accepts exactly zod's boolString spellings, with the same results", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constantFrom('true', 'false', '1', '0', 'yes', 'no', 'TRUE', 'y', ''),
          fc.string(),
          fc.boolean(),
        ),
        (v) => {
          const ours = bool().safeParse(v);
          const theirs = boolString.safeParse(v);
          expect(ours.success).toBe(theirs.success);
          if (ours.success && theirs.success) expect(ours.data).toBe(theirs.data);
        },
      ),
    );
  });

  it('duration: Go-style, bounds named in the same units', () => {
    expect(duration().safeParse('1m30s')).toEqual({ success: true, data: 90_000 });
    expect(messages(duration().safeParse('soon'))).toEqual([
      '"soon" is not a duration; write e.g. 30s, 5m or 1h30m',
    ]);
    const d = duration({ min: 1000, max: 86_400_000 });
    expect(messages(d.safeParse('500ms'))).toEqual(['must be at least 1s']);
    expect(messages(d.safeParse('25h'))).toEqual(['must be at most 24h']);
    expect(messages(duration({ min: 100 }).safeParse('99ms'))).toEqual(['must be at least 100ms']);
    fc.assert(
      fc.property(fc.nat(100_000), (ms) => {
        const r = duration({ min: 1000, max: 60_000 }).safeParse(`${ms}ms`);
        expect(r.success).toBe(ms >= 1000 && ms <= 60_000);
      }),
    );
  });

  it('a zod schema and a Flag sit in one option table; parseOptions reads both', () => {
    const specs = {
      a: { flag: 'a', help: 'zod', schema: z.coerce.number().int().default(1) },
      b: { flag: 'b', help: 'flag', schema: int({ min: 0, max: 9 }).default(2) },
    };
    expect(parseOptions(specs, ['--a=5', '--b=3'], {}).values).toEqual({ a: 5, b: 3 });
    expect(parseOptions(specs, [], {}).values).toEqual({ a: 1, b: 2 });
  });
});

describe("the agent's options, parsed by flags.ts", () => {
  it('defaults, as the DaemonSet relies on them', () => {
    const { values } = parseOptions(agentOptions, ['--node-name=worker-1'], {});
    expect(values).toMatchObject({
      nodeName: 'worker-1',
      sentinelFile: '/host/var/run/reboot-required',
      rebootMethod: 'command',
      rebootCommand: 'systemctl reboot',
      direct: false,
      checkPeriod: 60_000,
      commandTimeout: 30_000,
      watchSilenceTimeout: 180_000,
      memoryTrimAfter: 10_000,
      metricsPort: 9746,
      metricsAddress: '0.0.0.0',
      logLevel: 'info',
      logFormat: 'json',
    });
    expect(values.kubeconfig).toBeUndefined();
    expect(values.sentinelCommand).toBeUndefined();
    expect(
      parseOptions(agentOptions, ['--node-name=n', '--memory-trim-after=0'], {}).values.memoryTrimAfter,
    ).toBe(0);
  });

  it('every bad value is named with its flag, what was given and a valid example', () => {
    const p = problems([
      '--node-name=Worker_1',
      '--sentinel-file=relative',
      '--reboot-method=reboot',
      '--direct=maybe',
      '--check-period=100ms',
      '--memory-trim-after=2h',
      '--metrics-port=http',
      '--log-level=verbose',
    ]);
    expect(p).toEqual([
      '--node-name: must be a Kubernetes node name (lowercase DNS subdomain) (got "Worker_1"); e.g. --node-name=worker-1',
      '--sentinel-file: must be an absolute path (got "relative"); e.g. --sentinel-file=/host/var/run/reboot-required',
      '--reboot-method: must be "command" or "signal" (got "reboot"); e.g. --reboot-method=signal',
      '--direct: must be true or false (or 1/0, yes/no) (got "maybe"); e.g. --direct=true',
      '--check-period: must be at least 1s (got "100ms"); e.g. --check-period=1m',
      '--memory-trim-after: must be at most 1h (got "2h"); e.g. --memory-trim-after=10s',
      '--metrics-port: must be a whole number (got "http"); e.g. --metrics-port=9746',
      '--log-level: must be debug, info, warn or error (got "verbose"); e.g. --log-level=info',
    ]);
    expect(problems([])).toEqual([
      '--node-name (or KREBOOT_NODE_NAME): is required but not set; e.g. --node-name=worker-1',
    ]);
  });

  it("the common options (the controller's too) keep their values", () => {
    const { values } = parseOptions(commonOptions(9747), ['--metrics-port=0', '--kubeconfig=/k'], {});
    expect(values).toEqual({
      metricsPort: 0,
      metricsAddress: '0.0.0.0',
      kubeconfig: '/k',
      logLevel: 'info',
      logFormat: 'json',
    });
  });
});
