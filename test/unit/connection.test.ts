import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inClusterConnection, kubeconfigConnection, loadConnection } from '../../operator/kube/connection.ts';

const dir = mkdtempSync(join(tmpdir(), 'kreboot-conn-'));
const b64 = (s: string) => Buffer.from(s).toString('base64');

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const base = (user: string) => `apiVersion: v1
kind: Config
current-context: c1
contexts:
- name: c1
  context: {cluster: k1, user: u1}
- name: c2
  context: {cluster: k1, user: u2}
clusters:
- name: k1
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: ${b64('CA')}
users:
- name: u1
  user:
${user}
- name: u2
  user:
    token: t2
`;

describe('kubeconfig', () => {
  it('reads server, CA and client certificate data from the current context', async () => {
    const p = write(
      'a.yaml',
      base(`    client-certificate-data: ${b64('CERT')}\n    client-key-data: ${b64('KEY')}`),
    );
    const c = await kubeconfigConnection(p);
    expect(c.server).toBe('https://127.0.0.1:6443');
    expect(c.ca?.toString()).toBe('CA');
    expect(c.cert?.toString()).toBe('CERT');
    expect(c.key?.toString()).toBe('KEY');
    expect(c.token).toBeUndefined();
  });

  it('honours an explicit context, tokens, token files relative to the kubeconfig, and JSON', async () => {
    const p = write('b.yaml', base('    tokenFile: tok'));
    write('tok', 'secret\n');
    expect((await kubeconfigConnection(p)).token?.()).toBe('secret');
    expect((await kubeconfigConnection(p, 'c2')).token?.()).toBe('t2');
    const json = write(
      'c.json',
      JSON.stringify({
        'current-context': 'x',
        contexts: [{ name: 'x', context: { cluster: 'k', user: 'u' } }],
        clusters: [{ name: 'k', cluster: { server: 'https://h:1' } }],
        users: [{ name: 'u', user: { token: 'j' } }],
      }),
    );
    expect((await kubeconfigConnection(json)).token?.()).toBe('j');
  });

  it('names the field that is wrong', async () => {
    await expect(kubeconfigConnection(join(dir, 'missing'))).rejects.toThrow(/cannot read it/);
    await expect(kubeconfigConnection(write('d.yaml', 'a: [\n'))).rejects.toThrow(/not valid YAML/);
    await expect(kubeconfigConnection(write('e.yaml', base('    token: t')), 'nope')).rejects.toThrow(
      /context "nope" has no entry in "contexts"/,
    );
    await expect(kubeconfigConnection(write('f.yaml', base('    exec: {command: aws}')))).rejects.toThrow(
      /users\[u1\]\.user\.exec is not supported/,
    );
    await expect(
      kubeconfigConnection(write('g.yaml', base(`    client-certificate-data: ${b64('C')}`))),
    ).rejects.toThrow(/certificate without a key/);
    await expect(kubeconfigConnection(write('h.yaml', base('    client-key: nofile')))).rejects.toThrow(
      /users\[u1\]\.client-key: cannot read/,
    );
  });

  it('uses the in-cluster service account when KUBERNETES_SERVICE_HOST is set', () => {
    const sa = mkdtempSync(join(tmpdir(), 'kreboot-sa-'));
    writeFileSync(join(sa, 'token'), 'sa-token');
    writeFileSync(join(sa, 'ca.crt'), 'SACA');
    const c = inClusterConnection(
      { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' },
      sa,
    )!;
    expect(c.server).toBe('https://[fd00::1]:443');
    expect(c.token?.()).toBe('sa-token');
    expect(inClusterConnection({}, sa)).toBeUndefined();
    expect(() =>
      inClusterConnection({ KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, join(sa, 'none')),
    ).toThrow(/automountServiceAccountToken/);
  });

  it('says how to configure one when nothing is there', async () => {
    await expect(loadConnection({}, { HOME: join(dir, 'nohome') })).rejects.toThrow(/pass --kubeconfig/);
  });
});
