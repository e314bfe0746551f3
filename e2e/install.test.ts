// kreboot's manifests applied for real on a real control plane with kwok nodes: deploy/base with kubectl, then the
// Helm chart's render over it, then the prometheus-operator overlay. kwok runs the pods (no images are pulled).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Leases } from '../operator/protocol.ts';
import { ControlPlane } from '../testkit/cluster/controlplane.ts';
import { createKwokNodes } from '../testkit/cluster/nodes.ts';
import { eventually } from '../testkit/eventually.ts';
import { KREBOOT_BUNDLE, NODE_BIN } from '../testkit/sim/agent-process.ts';
import { helmTemplate, promOperatorCrds } from '../testkit/tools/tools.ts';
import { installKreboot, kubectl, SYSTEM_NS } from '../testkit/world/install.ts';

const root = mkdtempSync(join(tmpdir(), 'kreboot-install-'));
let cp: ControlPlane;
let core: CoreV1Api;
const NODES = ['worker-a', 'worker-b', 'worker-c'];

beforeAll(async () => {
  cp = await ControlPlane.start({ dir: join(root, 'cluster') });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  core = kc.makeApiClient(CoreV1Api);
  await createKwokNodes(core, NODES);
});
afterAll(async () => {
  await cp?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function runningPods(component: string) {
  const pods = await core.listNamespacedPod({
    namespace: SYSTEM_NS,
    labelSelector: `app.kubernetes.io/name=kreboot,app.kubernetes.io/component=${component}`,
  });
  return pods.items.filter(
    (p) =>
      p.status?.phase === 'Running' &&
      p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
}

async function healthy() {
  const agents = await eventually('one Running agent pod per node', async () => {
    const pods = await runningPods('agent');
    return pods.length === NODES.length && pods;
  });
  expect(new Set(agents.map((p) => p.spec?.nodeName))).toEqual(new Set(NODES));
  const controllers = await eventually('2 Running controller pods', async () => {
    const pods = await runningPods('controller');
    return pods.length === 2 && pods;
  });
  // Preferred anti-affinity: with 3 nodes free, the replicas land on different nodes.
  expect(new Set(controllers.map((p) => p.spec?.nodeName)).size).toBe(2);
}

describe('installing kreboot for real', () => {
  it('deploy/base: the DaemonSet gets one pod per kwok node, the controller Deployment runs 2 replicas', async () => {
    await installKreboot(cp.kubeconfig, { keepControllerPods: true });
    await healthy();
    // The metrics Services find their pods (what Prometheus or a ServiceMonitor scrapes).
    await eventually('the agent Service has an endpoint per node', async () => {
      const slices = JSON.parse(
        await kubectl(cp.kubeconfig, [
          '-n',
          SYSTEM_NS,
          'get',
          'endpointslices',
          '-l',
          'kubernetes.io/service-name=kreboot-agent',
          '-o',
          'json',
        ]),
      ) as { items: Array<{ endpoints?: unknown[] }> };
      return slices.items.flatMap((s) => s.endpoints ?? []).length === NODES.length;
    });
  });

  it('day two before any controller ran (crds/ and deploy/base only): pause creates the lock, status shows it, resume', () => {
    // kwok runs the controller's pods without running the program: no controller has ever written the lock.
    const kreboot = (args: string[]) =>
      spawnSync(NODE_BIN, [KREBOOT_BUNDLE, ...args, `--kubeconfig=${cp.kubeconfig}`], { encoding: 'utf8' });
    expect(kreboot(['resume']).stdout).toBe(
      `not paused; nothing changed (no lock yet: lease ${SYSTEM_NS}/${Leases.lock} does not exist)\n`,
    );
    const paused = kreboot(['pause', '--reason', 'installed, not yet trusted']);
    expect(paused.status, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(/^paused: no new reboot starts/);
    const status = JSON.parse(kreboot(['status', '-o', 'json']).stdout);
    expect(status.lock.paused).toMatch(/^installed, not yet trusted \(by \S+ at /);
    expect(status.nodes.map((n: { name: string }) => n.name)).toEqual(NODES);
    const resumed = kreboot(['resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/^resumed: new reboots may start/);
    expect(JSON.parse(kreboot(['status', '-o', 'json']).stdout).lock.paused).toBeNull();
  });

  it('the Helm render applies over it (same objects) and everything stays healthy', async () => {
    const out = await kubectl(
      cp.kubeconfig,
      ['apply', '--server-side', '--force-conflicts', '--field-manager=helm', '-f', '-'],
      helmTemplate(),
    );
    expect(out).toMatch(/daemonset.apps\/kreboot-agent serverside-applied/);
    await healthy();
  });

  it('the prometheus-operator overlay applies: ServiceMonitors and the PrometheusRule exist', async () => {
    await kubectl(cp.kubeconfig, ['apply', '--server-side', '-f', promOperatorCrds()]);
    await kubectl(cp.kubeconfig, [
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      '-f',
      promOperatorCrds(),
    ]);
    await kubectl(cp.kubeconfig, [
      'apply',
      '--server-side',
      '--force-conflicts',
      '-k',
      'deploy/prometheus-operator',
    ]);
    const got = await kubectl(cp.kubeconfig, [
      '-n',
      SYSTEM_NS,
      'get',
      'servicemonitors,prometheusrules',
      '-o',
      'name',
    ]);
    expect(got.trim().split('\n').sort()).toEqual([
      'prometheusrule.monitoring.coreos.com/kreboot',
      'servicemonitor.monitoring.coreos.com/kreboot-agent',
      'servicemonitor.monitoring.coreos.com/kreboot-controller',
    ]);
    await healthy();
  });
});
