// Installs the MaintenanceWindow CRD (crds/) on a bench's control plane and waits until it is served, as an
// install does: a controller without it polls for it (less and less often), which is not what a bench measures.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { KubeHttp } from '../operator/kube/http.ts';

export async function installCrd(http: KubeHttp): Promise<void> {
  const crd = parse(readFileSync('crds/maintenancewindows.kreboot.io.yaml', 'utf8'));
  await http.request('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    method: 'POST',
    body: crd,
  });
  const path = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`;
  for (let i = 0; i < 100; i++) {
    const got = await http.request<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
      path,
    );
    if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the MaintenanceWindow CRD did not become Established in 10 s');
}
