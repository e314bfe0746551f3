// zod schemas for flag values that the option tables of the controller and the CLI chain further (defaults,
// ranges). The agent's and the common options use flags.ts instead, which keeps zod out of the agent.
import { z } from 'zod';
import { parseDuration } from '../util/duration.ts';

/** A boolean that accepts the spellings people put in env vars and flags, and nothing else. */
export const boolString = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

/** A Go-style duration ("90s", "5m", "1h30m", "250ms") to milliseconds. */
export const durationString = z.string().transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration; write e.g. 30s, 5m or 1h30m` });
    return z.NEVER;
  }
  return ms;
});
