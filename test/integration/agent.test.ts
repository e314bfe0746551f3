// A real `kreboot agent` process per kwok node, against the real API server.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { V1Node } from '@kubernetes/client-node';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { Annotations as A, Conditions, RebootRequiredReasons as R } from '../../operator/protocol.ts';
import { createKwokNodes } from '../../testkit/cluster/nodes.ts';
import { freePort } from '../../testkit/prom/prometheus.ts';
import { AgentProcess, KREBOOT_BUNDLE, NODE_BIN, ownNodeCopy } from '../../testkit/sim/agent-process.ts';
import { TcpProxy } from '../../testkit/sim/tcp-proxy.ts';
import { clients, eventually, uniq } from './kube.ts';

const { core } = clients();
const kubeconfig = inject('kubeconfig');
const root = mkdtempSync(join(tmpdir(), 'kreboot-agent-it-'));
const agents: AgentProcess[] = [];
const nodes: string[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop('SIGKILL')));
});
afterAll(async () => {
  await Promise.all(nodes.map((name) => core.deleteNode({ name }).catch(() => {})));
  rmSync(root, { recursive: true, force: true });
});

async function newNode(): Promise<string> {
  const name = uniq('agent');
  nodes.push(name);
  await createKwokNodes(core, [name]);
  return name;
}

async function agentFor(name: string, bootId = 'boot-1', extraArgs: string[] = [], kc = kubeconfig) {
  const a = new AgentProcess({ nodeName: name, dir: join(root, name), kubeconfig: kc, bootId, extraArgs });
  agents.push(a);
  return a;
}

const read = (name: string) => core.readNode({ name });
const cond = (n: V1Node) => n.status?.conditions?.find((c) => c.type === Conditions.rebootRequired);
const annotation = (n: V1Node, key: string) => n.metadata?.annotations?.[key];

async function conditionIs(name: string, status: string, reason?: string, timeoutMs = 20_000) {
  return eventually(
    `${name} RebootRequired=${status}${reason ? ` (${reason})` : ''}`,
    async () => {
      const c = cond(await read(name));
      return c?.status === status && (!reason || c.reason === reason) && c;
    },
    timeoutMs,
    100,
  );
}

/** What the controller writes when it approves: cordoned, phase approved, the boot to leave (null withdraws). */
function approve(name: string, bootId: string | null) {
  return setAnnotations(
    name,
    { [A.approvedBootId]: bootId, [A.phase]: bootId === null ? null : 'approved' },
    bootId !== null,
  );
}

async function setAnnotations(name: string, annotations: Record<string, string | null>, cordon?: boolean) {
  // JSON merge patch through kubectl: the generated client's patch content-type juggling is beside the point.
  const res = spawnSync(
    'kubectl',
    [
      '--kubeconfig',
      kubeconfig,
      'patch',
      'node',
      name,
      '--type=merge',
      '-p',
      JSON.stringify({
        metadata: { annotations },
        ...(cordon === undefined ? {} : { spec: { unschedulable: cordon } }),
      }),
    ],
    { encoding: 'utf8' },
  );
  if (res.status !== 0) throw new Error(`kubectl patch failed: ${res.stderr}`);
}

/** A kubeconfig for this node's agent that reaches the API server through a proxy the test controls. */
async function viaProxy(name: string) {
  const server = new URL(readFileSync(kubeconfig, 'utf8').match(/server: (\S+)/)![1]!);
  const proxy = new TcpProxy('127.0.0.1', Number(server.port));
  const port = await proxy.start();
  const kc = join(root, `${name}-kubeconfig`);
  writeFileSync(
    kc,
    readFileSync(kubeconfig, 'utf8').replace(/server: \S+/, `server: https://127.0.0.1:${port}`),
  );
  return { proxy, port, kc };
}

function logHas(a: AgentProcess, pattern: RegExp) {
  return eventually(`agent log ${pattern}`, async () => pattern.test(a.log), 15_000, 100);
}

describe('kreboot agent on a kwok node', () => {
  it('reports the sentinel file appearing and going away, and its boot ID', async () => {
    const name = await newNode();
    const a = (await agentFor(name)).start();
    await conditionIs(name, 'False', R.none);
    // The condition (status) and the annotations (metadata) are two writes, the condition first.
    await eventually(
      'boot-id annotation',
      async () => annotation(await read(name), A.bootId) === 'boot-1',
      10_000,
      100,
    );
    writeFileSync(a.sentinel, '');
    await conditionIs(name, 'True', R.sentinelFile);
    const since = await eventually(
      'reboot-required-since set',
      async () => annotation(await read(name), A.rebootRequiredSince),
      10_000,
      100,
    );
    expect(Date.parse(since)).toBeGreaterThan(Date.now() - 60_000);
    unlinkSync(a.sentinel);
    const c = await conditionIs(name, 'False', R.none);
    expect(c.message).toContain('absent');
    await eventually(
      'reboot-required-since removed',
      async () => annotation(await read(name), A.rebootRequiredSince) === undefined,
      10_000,
      100,
    );
  });

  it('re-asserts its condition when something erases it, and leaves other conditions alone', async () => {
    const name = await newNode();
    const a = (await agentFor(name)).start();
    writeFileSync(a.sentinel, '');
    await conditionIs(name, 'True');
    // Remove just our condition with a JSON patch on the status subresource.
    const n = await read(name);
    const idx = n.status!.conditions!.findIndex((c) => c.type === Conditions.rebootRequired);
    const res = spawnSync(
      'kubectl',
      [
        '--kubeconfig',
        kubeconfig,
        'patch',
        'node',
        name,
        '--subresource=status',
        '--type=json',
        '-p',
        JSON.stringify([{ op: 'remove', path: `/status/conditions/${idx}` }]),
      ],
      { encoding: 'utf8' },
    );
    expect(res.status, res.stderr).toBe(0);
    await conditionIs(name, 'True', R.sentinelFile);
    const types = (await read(name)).status!.conditions!.map((c) => c.type);
    expect(types).toContain('Ready');
  });

  it('treats sentinel command exit 0 as required, 1 as not, anything else or a missing command as an error', async () => {
    const name = await newNode();
    const codeFile = join(root, `${name}-code`);
    writeFileSync(codeFile, '0');
    const a = (
      await agentFor(name, 'boot-1', [`--sentinel-command=exit $(cat ${codeFile})`, '--check-period=1s'])
    ).start();
    await conditionIs(name, 'True', R.sentinelCommand);
    writeFileSync(codeFile, '1');
    await conditionIs(name, 'False', R.none);
    writeFileSync(codeFile, '3');
    const bad = await conditionIs(name, 'Unknown', R.checkFailed);
    expect(bad.message).toMatch(/exited 3; only 0 \(reboot required\) and 1 \(not required\) are answers/);
    await a.stop();

    const b = (
      await agentFor(name, 'boot-1', ['--sentinel-command=/nonexistent/needs-reboot', '--check-period=1s'])
    ).start();
    const missing = await eventually('command-not-found reported', async () => {
      const c = cond(await read(name));
      return c?.status === 'Unknown' && /could not run: command not found/.test(c.message ?? '') && c;
    });
    expect(missing.reason).toBe(R.checkFailed);
    expect(b.reboots()).toBe(0);
  });

  it('does not reboot on an approval for another boot; reboots exactly once on a matching one', async () => {
    const name = await newNode();
    const a = (await agentFor(name, 'boot-A')).start();
    writeFileSync(a.sentinel, '');
    await conditionIs(name, 'True');
    await approve(name, 'boot-OLD');
    await logHas(a, /approval names boot boot-OLD, this node is in boot boot-A/);
    expect(a.reboots()).toBe(0);

    await approve(name, 'boot-A');
    await eventually('reboot command ran', async () => a.reboots() === 1, 15_000, 100);
    expect(annotation(await read(name), A.rebootingFromBootId)).toBe('boot-A');
    // More events for the same approval do not trigger another reboot.
    await setAnnotations(name, { 'example.com/poke': '1' });
    await setAnnotations(name, { 'example.com/poke': '2' });
    await logHas(a, /already started; never twice|reboot approved/);
    await new Promise((r) => setTimeout(r, 1000));
    expect(a.reboots()).toBe(1);

    // The agent restarts in the same boot (say it crashed before the host went down): no second reboot.
    await a.stop('SIGKILL');
    a.start();
    await logHas(a, /a reboot from boot boot-A was already started; never twice/);
    expect(a.reboots()).toBe(1);

    // The host came back: a new boot ID. The agent reports it, and the sentinel that survived the reboot.
    await a.stop('SIGKILL');
    a.setBootId('boot-B');
    a.start();
    const c = await conditionIs(name, 'True', R.stillRequiredAfterReboot);
    expect(c.message).toContain('boot-B');
    let n = await read(name);
    expect(annotation(n, A.bootId)).toBe('boot-B');
    expect(annotation(n, A.stillRequiredAfterBoot)).toBe('boot-B');
    expect(a.reboots()).toBe(1);

    // The controller finishes: approval removed. The agent drops its record; the sentinel goes; all clear.
    await approve(name, null);
    unlinkSync(a.sentinel);
    await conditionIs(name, 'False', R.none);
    n = await eventually('record dropped', async () => {
      const x = await read(name);
      return (
        annotation(x, A.rebootingFromBootId) === undefined &&
        annotation(x, A.stillRequiredAfterBoot) === undefined &&
        x
      );
    });
    expect(annotation(n, A.bootId)).toBe('boot-B');
  });

  it('counts a manual request as required and clears it after the reboot it asked for', async () => {
    const name = await newNode();
    const a = (await agentFor(name, 'boot-1')).start();
    await conditionIs(name, 'False');
    await setAnnotations(name, { [A.rebootRequested]: 'true' });
    await conditionIs(name, 'True', R.manual);
    await approve(name, 'boot-1');
    await eventually('rebooted', async () => a.reboots() === 1, 15_000, 100);
    await a.stop('SIGKILL');
    a.setBootId('boot-2');
    a.start();
    await eventually(
      'request cleared',
      async () => annotation(await read(name), A.rebootRequested) === undefined,
    );
    await approve(name, null);
    await conditionIs(name, 'False', R.none);
  });

  it('keeps running while the API server is unreachable and recovers when it returns', async () => {
    const name = await newNode();
    const { proxy, port, kc } = await viaProxy(name);
    const a = (await agentFor(name, 'boot-1', ['--watch-silence-timeout=5s'], kc)).start();
    await conditionIs(name, 'False');

    await proxy.cut();
    writeFileSync(a.sentinel, '');
    await logHas(a, /API call failed; retrying|could not update the node/);
    await new Promise((r) => setTimeout(r, 3000));
    expect(a.child?.exitCode).toBeNull();
    expect(cond(await read(name))?.status).toBe('False');

    await proxy.start(port);
    await conditionIs(name, 'True', R.sentinelFile, 60_000);
    await proxy.cut();
  });

  it('relists when its watch goes silent (a blackholed connection), and catches up', async () => {
    const name = await newNode();
    const { proxy, kc } = await viaProxy(name);
    const a = (await agentFor(name, 'boot-1', ['--watch-silence-timeout=3s'], kc)).start();
    await conditionIs(name, 'False');
    proxy.pause();
    await logHas(a, /watch silent for 3000 ms; relisting/);
    writeFileSync(a.sentinel, '');
    proxy.resume();
    await conditionIs(name, 'True', R.sentinelFile, 60_000);
    expect(a.child?.exitCode).toBeNull();
    await proxy.cut();
  });

  it('liveness: healthy while idle, unhealthy (503, naming why) once its sentinel check is wedged', async () => {
    const name = await newNode();
    const port = await freePort();
    // A check whose command leaves a child holding its output open: the timeout kills the shell, the
    // check never completes. Restarting the container is the cure, so /healthz must say so.
    const a = (
      await agentFor(name, 'boot-1', [
        '--sentinel-command=sleep 300 & sleep 300',
        '--command-timeout=1s',
        '--check-period=1h',
        `--metrics-port=${port}`,
        '--metrics-address=127.0.0.1',
      ])
    ).start();
    const health = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      return res && { code: res.status, body: await res.text() };
    };
    const first = await eventually('serving', async () => health());
    expect(first.code).toBe(200);
    const sick = await eventually(
      'unhealthy',
      async () => {
        const h = await health();
        return h?.code === 503 && h;
      },
      30_000,
      500,
    );
    expect(sick.body).toMatch(/sentinel check running for \d+ ms \(wedged\)/);
    await a.stop('SIGKILL');
    spawnSync('pkill', ['-f', '^sleep 300$']);
  });

  it('trims its start-up pages once settled (huge pages off from the start), and still sees the sentinel at once afterwards', async () => {
    const name = await newNode();
    // Its own copy of the executable, as from its image on a node: pages other processes map too (this test's
    // own Node) are not the agent's to hand back, and the kernel keeps them.
    const nodeBin = ownNodeCopy(join(root, `node-${name}`));
    const a = new AgentProcess({
      nodeName: name,
      dir: join(root, name),
      kubeconfig,
      bootId: 'boot-1',
      nodeBin,
      extraArgs: ['--memory-trim-after=1s'],
    });
    agents.push(a);
    a.start();
    await conditionIs(name, 'False');
    const trim = await eventually(
      'the trim logged',
      async () => a.logLines().find((l) => l.phase === 'trim'),
      20_000,
      100,
    );
    expect(trim.msg).toBe('memory trimmed');
    expect(trim.errnos).toBeUndefined();
    const [before, after] = trim.fileMiB as number[];
    expect(after!, 'file-backed MiB after the trim').toBeLessThan(before! / 2);
    // The kernel's own figure agrees: the process's file-backed resident set is what the log says, give or take
    // what ran since.
    const status = readFileSync(`/proc/${a.child!.pid}/status`, 'utf8');
    expect(Number(/^RssFile:\s+(\d+) kB$/m.exec(status)![1]) / 1024).toBeLessThan(before! / 2);
    // Huge pages off for the agent from its start (prctl PR_SET_THP_DISABLE: the kernel shows it here).
    expect(/^THP_enabled:\s+(\d)$/m.exec(status)?.[1]).toBe('0');
    writeFileSync(a.sentinel, '');
    await conditionIs(name, 'True', R.sentinelFile, 5000);
    // Trimmed once only.
    expect(a.logLines().filter((l) => l.phase === 'trim')).toHaveLength(1);
  });

  it('runs untrimmed, and says why, when the binding is missing or the trim is off', async () => {
    const name = await newNode();
    const a = (await agentFor(name, 'boot-1', ['--memory-trim-after=0'])).start();
    await conditionIs(name, 'False');
    expect(a.logLines().filter((l) => l.phase === 'trim')).toEqual([]);
    expect(/^THP_enabled:\s+(\d)$/m.exec(readFileSync(`/proc/${a.child!.pid}/status`, 'utf8'))?.[1]).toBe(
      '1',
    );
    // A bundle without dist/trim.node (KREBOOT_SKIP_NATIVE=1 npm run build): the agent works and logs why.
    const bare = join(root, `bundle-${name}`);
    cpSync(dirname(KREBOOT_BUNDLE), bare, { recursive: true, filter: (src) => !src.endsWith('trim.node') });
    const b = new (class extends AgentProcess {
      override args() {
        return super.args().map((x) => (x === KREBOOT_BUNDLE ? join(bare, 'kreboot.mjs') : x));
      }
    })({ nodeName: await newNode(), dir: join(root, `${name}-b`), kubeconfig, bootId: 'boot-1' });
    agents.push(b);
    b.start();
    const off = await eventually(
      'the trim-off line',
      async () => b.logLines().find((l) => l.phase === 'trim'),
      20_000,
      100,
    );
    expect(off.msg).toBe('memory trim off');
    expect(off.reason).toContain('trim.node is missing');
    await a.stop();
  });

  it('exits 0 on SIGTERM', async () => {
    const name = await newNode();
    const a = (await agentFor(name)).start();
    await conditionIs(name, 'False');
    expect(await a.stop('SIGTERM')).toBe(0);
  });
});

describe('kreboot agent configuration errors', () => {
  function run(args: string[], env: Record<string, string> = {}) {
    return spawnSync(NODE_BIN, [KREBOOT_BUNDLE, 'agent', ...args], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', ...env },
    });
  }

  it('exits 2 and names the field', () => {
    const missing = run([]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('--node-name (or KREBOOT_NODE_NAME): is required but not set');

    const bad = run(['--node-name=n1', '--reboot-method=kexec', '--metrics-port=99999']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--reboot-method: must be "command" or "signal" (got "kexec")');
    expect(bad.stderr).toMatch(/--metrics-port: .*99999/);

    const env = run([], { KREBOOT_NODE_NAME: 'n1', KREBOOT_CHECK_PERIOD: 'often' });
    expect(env.status).toBe(2);
    expect(env.stderr).toContain('KREBOOT_CHECK_PERIOD: "often" is not a duration');
  });

  it('exits 2 when the boot ID or the API server cannot be found', () => {
    const noBoot = run(['--node-name=n1', '--boot-id-file=/nonexistent/boot_id']);
    expect(noBoot.status).toBe(2);
    expect(noBoot.stderr).toContain('--boot-id-file: cannot read /nonexistent/boot_id');
    const bootFile = join(root, 'boot-for-config-test');
    writeFileSync(bootFile, 'b\n');
    const noApi = run(['--node-name=n1', `--boot-id-file=${bootFile}`]);
    expect(noApi.status).toBe(2);
    expect(noApi.stderr).toContain('pass --kubeconfig');
  });

  it('lists every flag with its env var in --help', () => {
    const help = run(['--help']);
    expect(help.status).toBe(0);
    for (const flag of [
      'node-name',
      'sentinel-file',
      'sentinel-command',
      'boot-id-file',
      'reboot-method',
      'reboot-command',
      'metrics-port',
    ]) {
      expect(help.stdout).toContain(`--${flag}`);
      expect(help.stdout).toContain(`KREBOOT_${flag.toUpperCase().replaceAll('-', '_')}`);
    }
  });
});
