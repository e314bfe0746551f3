// `kreboot status` and `kreboot plan` against the real API server, on nodes in a known state.
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeconfigConnection } from '../../operator/kube/connection.ts';
import { KubeHttp } from '../../operator/kube/http.ts';
import { Annotations, MaintenanceWindowResource } from '../../operator/protocol.ts';
import { createKwokNodes } from '../../testkit/cluster/nodes.ts';
import { KREBOOT_BUNDLE, NODE_BIN } from '../../testkit/sim/agent-process.ts';
import { clients, createNamespace, eventually, uniq } from './kube.ts';

const kubeconfig = inject('kubeconfig');
const { core } = clients();
const group = uniq('st');
const [a, b, c] = ['a', 'b', 'c'].map((x) => `${group}-${x}`) as [string, string, string];
let http: KubeHttp;

function kreboot(args: string[]) {
  return spawnSync(
    NODE_BIN,
    [
      KREBOOT_BUNDLE,
      ...args,
      `--kubeconfig=${kubeconfig}`,
      `--namespace=${group}`,
      `--node-selector=kreboot.test/group=${group}`,
      // Windows of other tests in the shared cluster must not gate this group.
      `--window-selector=kreboot.test/group=${group}`,
    ],
    {
      encoding: 'utf8',
    },
  );
}

async function report(name: string, status: 'True' | 'False', since: string) {
  // Play the agent: its boot ID, then its condition.
  await http.request(`/api/v1/nodes/${name}`, {
    method: 'PATCH',
    contentType: 'application/merge-patch+json',
    body: {
      metadata: {
        annotations: { [Annotations.bootId]: `${name}-boot`, [Annotations.rebootRequiredSince]: since },
      },
    },
  });
  await http.request(`/api/v1/nodes/${name}/status`, {
    method: 'PATCH',
    contentType: 'application/strategic-merge-patch+json',
    body: {
      status: {
        nodeInfo: { bootID: `${name}-boot` },
        conditions: [
          {
            type: 'RebootRequired',
            status,
            reason: status === 'True' ? 'SentinelFilePresent' : 'NoRebootRequired',
            message: 'test',
          },
        ],
      },
    },
  });
}

beforeAll(async () => {
  http = new KubeHttp(await kubeconfigConnection(kubeconfig));
  await createNamespace(core, group);
  await createKwokNodes(core, [a, b, c], { labels: { 'kreboot.test/group': group } });
  await eventually('Ready', async () =>
    (await core.listNode({ labelSelector: `kreboot.test/group=${group}` })).items.every((n) =>
      n.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
    ),
  );
  await report(a, 'True', '2026-01-01T00:00:00Z');
  await report(b, 'True', '2026-01-02T00:00:00Z');
  await report(c, 'False', '2026-01-01T00:00:00Z');
});
afterAll(async () => {
  await Promise.all([a, b, c].map((name) => core.deleteNode({ name }).catch(() => {})));
  await core.deleteNamespace({ name: group }).catch(() => {});
  http?.close();
});

describe('kreboot status / plan', () => {
  it('status lists the nodes with their need, phase and readiness', () => {
    const r = kreboot(['status']);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.split('\n');
    expect(rows[0]).toMatch(/^NODE\s+REBOOT\s+SINCE\s+PHASE\s+IN PHASE\s+READY\s+CORDONED\s+BOOT/);
    expect(rows.find((l) => l.startsWith(a))).toMatch(/\byes\b.*\s-\s.*\byes\b\s+no/);
    expect(rows.find((l) => l.startsWith(c))).toMatch(new RegExp(`^${c}\\s+no\\s`));
    expect(r.stdout).toContain('lock: (free)');
  });

  it('plan says who would start (longest waiting first) and why the others wait', () => {
    const r = kreboot(['plan', '--concurrency=1']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`would start now: ${a}`);
    expect(r.stdout).toMatch(new RegExp(`${b}\\s+budget\\s+concurrency: 1 of 1 disrupted`));
    expect(r.stdout).toContain(
      'not evaluated here (the controller does): alerts, PodDisruptionBudgets, blocking pods.',
    );
    const two = kreboot(['plan', '--concurrency=2']);
    expect(two.stdout).toContain(`would start now: ${a}, ${b}`);
  });

  it('plan shows a pause set on the lock', async () => {
    await http.request(`/apis/coordination.k8s.io/v1/namespaces/${group}/leases`, {
      method: 'POST',
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name: 'kreboot-lock',
          annotations: { 'kreboot.io/paused': 'change freeze', [Annotations.lockEntries]: '[]' },
        },
        spec: {},
      },
    });
    const r = kreboot(['plan']);
    expect(r.stdout).toContain('would start now: nothing');
    expect(r.stdout).toMatch(new RegExp(`${a}\\s+paused\\s+change freeze`));
    expect(kreboot(['status']).stdout).toContain('PAUSED: change freeze');
  });

  it('windows lists each MaintenanceWindow with its next intervals (table and -o json)', async () => {
    // The CRD, as the other window tests install it (idempotent; this file may run first).
    const kubectl = (args: string[]) =>
      spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' });
    expect(kubectl(['apply', '--server-side', '-f', 'crds/maintenancewindows.kreboot.io.yaml']).status).toBe(
      0,
    );
    expect(
      kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/maintenancewindows.kreboot.io'])
        .status,
    ).toBe(0);
    const r = MaintenanceWindowResource;
    await http.request(`/apis/${r.group}/${r.version}/${r.plural}`, {
      method: 'POST',
      body: {
        apiVersion: `${r.group}/${r.version}`,
        kind: r.kind,
        metadata: { name: `${group}-nights`, labels: { 'kreboot.test/group': group } },
        spec: { schedule: '0 22 * * 1-5', duration: '6h', timeZone: 'Europe/Berlin' },
      },
    });
    const run = (args: string[]) =>
      spawnSync(
        NODE_BIN,
        [
          KREBOOT_BUNDLE,
          'windows',
          ...args,
          `--kubeconfig=${kubeconfig}`,
          `--selector=kreboot.test/group=${group}`,
        ],
        {
          encoding: 'utf8',
        },
      );
    const json = run(['--next', '4', '-o', 'json']);
    expect(json.status, json.stderr).toBe(0);
    const rows = JSON.parse(json.stdout);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ name: `${group}-nights`, timeZone: 'Europe/Berlin', suspended: false });
    expect(rows[0].upcoming).toHaveLength(4);
    for (const u of rows[0].upcoming) {
      expect(u.startLocal).toMatch(/^(Mon|Tue|Wed|Thu|Fri) \d{4}-\d\d-\d\d 22:00 CES?T$/);
      expect(Date.parse(u.end) - Date.parse(u.start)).toBe(6 * 3600_000);
    }
    const table = run([]);
    expect(table.stdout.split('\n')[1]).toMatch(
      new RegExp(`^${group}-nights\\s+Europe/Berlin\\s+\\w{3} \\d{4}-\\d\\d-\\d\\d 22:00`),
    );
    await http.request(`/apis/${r.group}/${r.version}/${r.plural}/${group}-nights`, { method: 'DELETE' });
  });

  it('status --watch redraws from watches when something changes, and ends on Ctrl-C', async () => {
    const child = spawn(
      NODE_BIN,
      [
        KREBOOT_BUNDLE,
        'status',
        '--watch',
        '-o',
        'json',
        `--kubeconfig=${kubeconfig}`,
        `--namespace=${group}`,
        `--node-selector=kreboot.test/group=${group}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const frames: Array<{ nodes: Array<{ name: string; excluded: boolean }> }> = [];
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        frames.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    try {
      await eventually('first frame', async () => frames.length > 0 && frames.at(-1)!.nodes.length === 3);
      expect(frames.at(-1)!.nodes.find((n) => n.name === c)!.excluded).toBe(false);
      const before = frames.length;
      await http.request(`/api/v1/nodes/${c}`, {
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        body: { metadata: { annotations: { [Annotations.exclude]: 'true' } } },
      });
      await eventually('a new frame with c excluded', async () =>
        frames.slice(before).some((f) => f.nodes.find((n) => n.name === c)?.excluded === true),
      );
    } finally {
      child.kill('SIGINT');
      await http.request(`/api/v1/nodes/${c}`, {
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        body: { metadata: { annotations: { [Annotations.exclude]: null } } },
      });
    }
    expect(await exited).toBe(0);
  });

  it('names a bad flag', () => {
    const r = kreboot(['plan', '--concurrency=lots']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--concurrency: must be a whole number or a percentage');
  });
});
