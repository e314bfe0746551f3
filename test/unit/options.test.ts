import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, envName, helpText, parseOptions } from '../../operator/config/options.ts';
import { boolString, durationString } from '../../operator/config/zod-values.ts';
import { parseDuration } from '../../operator/util/duration.ts';

const specs = {
  nodeName: { flag: 'node-name', help: 'this node', schema: z.string().min(1), example: 'worker-1' },
  period: { flag: 'check-period', help: 'how often', schema: durationString.default(60_000), example: '1m' },
  port: {
    flag: 'metrics-port',
    help: 'port',
    schema: z.coerce.number().int().min(0).max(65535).default(9090),
    example: '9090',
  },
  direct: { flag: 'direct', help: 'no nsenter', schema: boolString.default(false), boolean: true },
};

function problems(argv: string[], env: Record<string, string> = {}): string[] {
  try {
    parseOptions(specs, argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('parseOptions', () => {
  it('reads flags in both spellings, env vars, and applies defaults', () => {
    const { values } = parseOptions(specs, ['--node-name', 'n1', '--check-period=90s'], {});
    expect(values).toEqual({ nodeName: 'n1', period: 90_000, port: 9090, direct: false });
    const fromEnv = parseOptions(specs, [], { KREBOOT_NODE_NAME: 'n2', KREBOOT_DIRECT: 'yes' });
    expect(fromEnv.values.nodeName).toBe('n2');
    expect(fromEnv.values.direct).toBe(true);
  });

  it('lets the flag win over the environment', () => {
    const { values } = parseOptions(specs, ['--node-name=flag'], { KREBOOT_NODE_NAME: 'env' });
    expect(values.nodeName).toBe('flag');
  });

  it('treats a bare boolean flag as true, even before another flag', () => {
    const { values } = parseOptions(specs, ['--direct', '--node-name', 'n'], {});
    expect(values.direct).toBe(true);
  });

  it('names the flag, the env var and a fix when a required value is missing', () => {
    expect(problems([])).toEqual([
      '--node-name (or KREBOOT_NODE_NAME): is required but not set; e.g. --node-name=worker-1',
    ]);
  });

  it('names where a bad value came from and what was given', () => {
    const p = problems(['--node-name=n'], { KREBOOT_METRICS_PORT: '70000' });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^KREBOOT_METRICS_PORT: .*\(got "70000"\); e\.g\. --metrics-port=9090$/);
    expect(problems(['--node-name=n', '--check-period=soon'])[0]).toMatch(
      /^--check-period: "soon" is not a duration; write e\.g\. 30s, 5m or 1h30m/,
    );
  });

  it('reports every problem at once, and suggests near flags', () => {
    const p = problems(['--node-nam=x', '--metrics-port=abc']);
    expect(p).toHaveLength(3);
    expect(p[0]).toBe('--node-nam: unknown flag; did you mean --node-name?');
    expect(p.some((x) => x.startsWith('--metrics-port:'))).toBe(true);
    expect(p.some((x) => x.startsWith('--node-name (or KREBOOT_NODE_NAME)'))).toBe(true);
  });

  it('says a flag needs a value', () => {
    expect(problems(['--node-name'])).toContain('--node-name: needs a value, e.g. --node-name=worker-1');
  });

  it('passes --help through without validating', () => {
    expect(parseOptions(specs, ['--help'], {}).help).toBe(true);
  });

  it('has an exit code of 2 on ConfigError', () => {
    expect(new ConfigError(['x']).exitCode).toBe(2);
  });

  it('lists every flag and env var in the help text', () => {
    const text = helpText('agent', 'sum', specs);
    for (const s of Object.values(specs)) {
      expect(text).toContain(`--${s.flag}`);
      expect(text).toContain(envName(s.flag));
    }
  });
});

describe('parseDuration', () => {
  it('parses Go-style durations', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('0')).toBe(0);
  });
  it('rejects garbage', () => {
    for (const s of ['', '5', 'm', '5 m', '-1s', '1d', '1h30', 'ms'])
      expect(parseDuration(s)).toBeUndefined();
  });
  it('round-trips any combination of units', () => {
    fc.assert(
      fc.property(fc.nat(99), fc.nat(59), fc.nat(59), fc.nat(999), (h, m, s, ms) => {
        const text = `${h}h${m}m${s}s${ms}ms`;
        expect(parseDuration(text)).toBe(((h * 60 + m) * 60 + s) * 1000 + ms);
      }),
    );
  });
});

describe("the controller's kured options", () => {
  it('node labels: key=value lists, each checked; a taint key is a qualified name', async () => {
    const { controllerOptions } = await import('../../operator/controller/config.ts');
    const { parseOptions } = await import('../../operator/config/options.ts');
    const ok = parseOptions(
      controllerOptions,
      [
        '--pre-reboot-node-labels=kreboot.io/rebooting=true,team=',
        '--prefer-no-schedule-taint=kreboot.io/pending',
      ],
      {},
    ).values;
    expect(ok.preRebootNodeLabels).toEqual({ 'kreboot.io/rebooting': 'true', team: '' });
    expect(ok.postRebootNodeLabels).toEqual({});
    expect(() => parseOptions(controllerOptions, ['--post-reboot-node-labels=rebooted'], {})).toThrow(
      /--post-reboot-node-labels.*"rebooted" is not a label; write key=value/s,
    );
    expect(() => parseOptions(controllerOptions, ['--prefer-no-schedule-taint=not a key'], {})).toThrow(
      /--prefer-no-schedule-taint.*must be a taint key/s,
    );
    expect(() => parseOptions(controllerOptions, ['--drain-grace-period=-2'], {})).toThrow(
      /--drain-grace-period/,
    );
    expect(() => parseOptions(controllerOptions, ['--drain-pod-selector=app in ('], {})).toThrow(
      /--drain-pod-selector/,
    );
  });
});
