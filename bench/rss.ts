// Resident memory of a process as the kernel reports it, sampled while it idles (the agent bench, the runtime
// floor bench).
import { readFileSync } from 'node:fs';
import { residentFromStatus } from '../operator/util/proc-status.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A process's resident memory as the kernel reports it (all, anonymous, file-backed), in MiB. */
function resident(pid: number): { rss: number; anon: number; file: number } {
  const r = residentFromStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { rss: r.rssBytes / 2 ** 20, anon: r.rssAnonBytes / 2 ** 20, file: r.rssFileBytes / 2 ** 20 };
}

export interface IdleSample {
  at: number;
  rss: number;
  anon: number;
  file: number;
}

/**
 * Samples a process's RSS every 10 s for `seconds`; returns the sample at 60 s, the last one and the highest (an
 * agent that trims its memory once settled could read low at one instant and grow back: the highest says).
 */
export async function idleRss(
  pid: number,
  seconds: number,
): Promise<{ at60: IdleSample; end: IdleSample; max: IdleSample; samples: IdleSample[] }> {
  const samples: IdleSample[] = [];
  const start = Date.now();
  while (Date.now() - start < seconds * 1000) {
    await sleep(Math.min(10_000, seconds * 1000));
    samples.push({ at: (Date.now() - start) / 1000, ...resident(pid) });
  }
  return {
    at60: samples.find((s) => s.at >= 60) ?? samples[samples.length - 1]!,
    end: samples[samples.length - 1]!,
    max: highest(samples),
    samples,
  };
}

export const highest = (samples: IdleSample[]) => samples.reduce((a, b) => (b.rss > a.rss ? b : a));

export const mib = (s: IdleSample) =>
  `${s.rss.toFixed(1)} MiB (anon ${s.anon.toFixed(1)}, file ${s.file.toFixed(1)})`;
