// npm run bench -- runtime-floor: the RSS of the least a node agent must keep doing while idle (one TLS watch of its
// Node, a metrics server, an inotify watch of the sentinel's directory: bench/floor/watch-min.mjs) under each
// JavaScript runtime, next to kured's whole agent on the same quiet API server. It answers one question of issue
// #17 with a measurement: can any runtime here carry a TypeScript agent under kured's footprint?
// Node always (the pinned devDependency); Bun, Deno and kured when KREBOOT_BUN_BIN, KREBOOT_DENO_BIN and
// KREBOOT_KURED_BIN name their binaries (none is a dependency of the project).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { AGENT_NODE_FLAGS } from '../operator/agent/config.ts';
import { ControlPlane } from '../testkit/cluster/controlplane.ts';
import { kwokNode } from '../testkit/cluster/nodes.ts';
import { NODE_BIN } from '../testkit/sim/agent-process.ts';
import { startKured } from './kured.ts';
import { type IdleSample, idleRss, mib } from './rss.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SCRIPT = join(import.meta.dirname, 'floor', 'watch-min.mjs');

interface Runtime {
  name: string;
  cmd: string[];
}

function runtimes(): Runtime[] {
  const env = process.env;
  const out: Runtime[] = [
    { name: 'Node (node:https, node:http, fs.watch)', cmd: [NODE_BIN] },
    { name: "Node, the DaemonSet's V8 flags", cmd: [NODE_BIN, ...AGENT_NODE_FLAGS] },
  ];
  if (env.KREBOOT_BUN_BIN) out.push({ name: 'Bun (fetch, Bun.serve, fs.watch)', cmd: [env.KREBOOT_BUN_BIN] });
  if (env.KREBOOT_DENO_BIN) {
    out.push({
      name: 'Deno (fetch, Deno.serve, Deno.watchFs)',
      cmd: [env.KREBOOT_DENO_BIN, 'run', '--allow-all', '--no-check', '--no-prompt'],
    });
  }
  return out;
}

/** Runs the minimal agent under one runtime; checks that it watches, serves and sees the sentinel, then idles. */
async function measure(rt: Runtime, cp: ControlPlane, node: string, dir: string, seconds: number) {
  const sentinelDir = mkdtempSync(join(dir, 'sentinel-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(
    rt.cmd[0]!,
    [...rt.cmd.slice(1), SCRIPT, cp.server, cp.pki, node, String(port), sentinelDir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: dir, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(dir, 'deno') },
    },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-2000);
  });
  const until = async (what: string, test: () => boolean | Promise<boolean>) => {
    for (let i = 0; !(await test()); i++) {
      if (child.exitCode !== null)
        throw new Error(`${rt.name} exited ${child.exitCode} before ${what}: ${err}`);
      if (i > 300) throw new Error(`${rt.name}: no ${what} within 30 s: ${err}`);
      await sleep(100);
    }
  };
  try {
    await until('node event from its watch', () => out.includes('"type":"ADDED"'));
    await until('metrics answer', async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/metrics`)).ok;
      } catch {
        return false;
      }
    });
    writeFileSync(join(sentinelDir, 'reboot-required'), '');
    await until('sentinel event', () => out.includes('"msg":"sentinel"'));
    return await idleRss(child.pid!, seconds);
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

export async function benchRuntimeFloor(): Promise<string[]> {
  const seconds = Number(process.env.KREBOOT_BENCH_IDLE_SECONDS ?? 60);
  const dir = mkdtempSync(join(tmpdir(), 'kreboot-bench-floor-'));
  const cp = await ControlPlane.start({ dir: join(dir, 'cp'), apiOnly: true });
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const node = 'bench-node';
    await kc.makeApiClient(CoreV1Api).createNode({ body: kwokNode(node) });
    const rows: Array<[string, IdleSample]> = [];
    for (const rt of runtimes()) {
      process.stderr.write(`[floor] ${rt.name}\n`);
      rows.push([`${rt.name}: minimal agent`, (await measure(rt, cp, node, dir, seconds)).end]);
    }
    if (process.env.KREBOOT_KURED_BIN) {
      process.stderr.write('[floor] kured\n');
      mkdirSync(join(dir, 'kured'));
      const run = await startKured({
        bin: process.env.KREBOOT_KURED_BIN,
        kubeconfig: cp.kubeconfig,
        server: cp.server,
        caFile: join(cp.pki, 'ca.crt'),
        dir: join(dir, 'kured'),
        nodeName: node,
        metricsPort: 20000 + Math.floor(Math.random() * 20000),
      });
      try {
        rows.push(['kured, its whole agent', (await idleRss(run.child.pid!, seconds)).end]);
      } finally {
        await run.stop();
      }
    }
    return [
      `| runtime (after ${seconds} s idle, same quiet API server) | RSS |`,
      '|---|---|',
      ...rows.map(([name, s]) => `| ${name} | ${mib(s)} |`),
    ];
  } finally {
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
