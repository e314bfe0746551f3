// The CRD on the real API server: schema and CEL rules reject bad objects at admission, naming the field.
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { WINDOW_CASES } from '../fixtures/windows.ts';
import { uniq } from './kube.ts';

const kubeconfig = inject('kubeconfig');
const kubectl = (args: string[], input?: string) =>
  spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input });

beforeAll(() => {
  const res = kubectl(['apply', '--server-side', '-f', 'crds/maintenancewindows.kreboot.io.yaml']);
  expect(res.status, res.stderr).toBe(0);
  const est = kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/maintenancewindows.kreboot.io',
  ]);
  expect(est.status, est.stderr).toBe(0);
});

describe('MaintenanceWindow admission', () => {
  const prefix = uniq('mw');
  for (const c of WINDOW_CASES) {
    it(`${c.rejectedFor ? 'rejects' : 'accepts'} ${c.name}`, () => {
      const obj = {
        apiVersion: 'kreboot.io/v1alpha1',
        kind: 'MaintenanceWindow',
        metadata: { name: `${prefix}-${c.name}` },
        spec: c.spec,
      };
      const res = kubectl(['apply', '-f', '-'], JSON.stringify(obj));
      if (!c.rejectedFor) {
        expect(res.status, res.stderr).toBe(0);
        const got = kubectl(['get', 'mw', obj.metadata.name, '-o', 'json']);
        const spec = JSON.parse(got.stdout).spec;
        expect(spec.timeZone ?? 'UTC').toBe((c.spec.timeZone as string | undefined) ?? 'UTC');
        expect(spec.suspend).toBe(false);
      } else {
        expect(res.status).not.toBe(0);
        expect(res.stderr).toContain(c.rejectedFor);
        // Schedule and zone errors say what is valid, with an example.
        if (/schedule|timeZone/.test(c.rejectedFor)) expect(res.stderr).toMatch(/e\.g\.|such as/);
      }
    });
  }

  it('shows the printer columns', () => {
    const res = kubectl(['get', 'mw']);
    expect(res.stdout.split('\n')[0]).toMatch(
      /NAME\s+SCHEDULE\s+DURATION\s+TIME ZONE\s+ACTIVE\s+NEXT START\s+PENDING\s+AGE/,
    );
  });
});
