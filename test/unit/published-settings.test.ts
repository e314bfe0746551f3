// The controller's planner settings as published on the lock, and the CLI's merge with its own flags.
import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../operator/config/options.ts';
import { plannerOptions } from '../../operator/controller/planner-options.ts';
import {
  decodeSettings,
  encodeSettings,
  mergeSettings,
} from '../../operator/controller/published-settings.ts';

const parse = (argv: string[]) => parseOptions(plannerOptions, argv, {});

describe('published planner settings', () => {
  it('round-trips every planner option the controller was given', () => {
    const { values } = parse([
      '--concurrency=10%',
      '--zone-concurrency=1',
      '--node-selector=pool=general',
      '--default-window=never',
      '--window-selector=team=a',
      '--window-end-margin=15m',
      '--retry-after-failure=20m',
    ]);
    const decoded = decodeSettings(encodeSettings(values, '1.2.3'));
    expect(decoded).toEqual({ ok: true, values, version: '1.2.3' });
    // The same settings encode the same way: the controller writes only when they change.
    expect(encodeSettings(values, '1.2.3')).toBe(encodeSettings({ ...values }, '1.2.3'));
  });

  it('a flag given to the CLI wins over the published value; the others come from the controller', () => {
    const controller = parse(['--concurrency=3', '--window-end-margin=10m']).values;
    const published = decodeSettings(encodeSettings(controller, '1.0.0'));
    const cli = parse(['--concurrency=1']);
    const m = mergeSettings(cli.values, cli.given as Set<string>, published);
    expect(m.values.concurrency).toBe(1);
    expect(m.values.windowEndMargin).toBe(600_000);
    expect(m.source).toBe("the controller's (kreboot 1.0.0), overridden here: concurrency");
    // Nothing given: exactly the controller's.
    const none = parse([]);
    expect(mergeSettings(none.values, none.given as Set<string>, published).values).toEqual(controller);
  });

  it('absent or unreadable settings: flags and defaults, saying why', () => {
    const none = parse([]);
    expect(mergeSettings(none.values, none.given as Set<string>, decodeSettings(undefined))).toEqual({
      values: none.values,
      source: 'flags and defaults: no controller has published its settings yet',
    });
    const bad = decodeSettings('{"version":"1","values":{"concurrency":0}}');
    expect(bad.ok).toBe(false);
    expect(mergeSettings(none.values, none.given as Set<string>, bad).source).toMatch(
      /^flags and defaults: the published settings are unreadable/,
    );
  });
});
