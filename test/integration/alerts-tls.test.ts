// The alert source over HTTPS, against a real Prometheus serving TLS (web.config.file) with a certificate from a
// CA made for the test: --alert-ca-file trusts it, no CA or the wrong CA fails closed naming the cause, and
// --alert-insecure-skip-verify connects anyway.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertGate } from '../../operator/alerts/gate.ts';
import type { HttpAuth } from '../../operator/alerts/http-json.ts';
import { prometheusAlerts } from '../../operator/alerts/sources.ts';
import { issueCert, makeCa } from '../../testkit/cluster/pki.ts';
import { freePort, Proc } from '../../testkit/prom/prometheus.ts';
import { prometheusReleases } from '../../testkit/prom/releases.ts';
import { eventually } from './kube.ts';

const root = mkdtempSync(join(tmpdir(), 'kreboot-prom-tls-'));
const NODES = new Set(['node-a']);
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Every Prometheus release under test (the pinned 3.x build, and Debian's 2.x where installed).
for (const rel of prometheusReleases()) {
  describe(rel.name, () => {
    const dir = join(root, `prometheus-${rel.major}`);
    let prom: Proc;
    let url = '';

    beforeAll(async () => {
      mkdirSync(dir, { recursive: true });
      await makeCa(dir, 'test-ca', '/CN=test-ca', 1);
      await makeCa(dir, 'other-ca', '/CN=other-ca', 1);
      writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
      await issueCert(dir, {
        name: 'server',
        subject: '/CN=prometheus',
        ca: 'test-ca',
        extFile: 'san.ext',
        days: 1,
      });
      writeFileSync(
        join(dir, 'web.yml'),
        `tls_server_config:\n  cert_file: ${join(dir, 'server.crt')}\n  key_file: ${join(dir, 'server.key')}\n`,
      );
      writeFileSync(join(dir, 'prometheus.yml'), 'global: {scrape_interval: 1s}\n');
      const port = await freePort();
      url = `https://127.0.0.1:${port}`;
      prom = new Proc(rel.prometheus, [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--web.config.file=${join(dir, 'web.yml')}`,
      ]);
      prom.start();
    });

    afterAll(async () => {
      await prom?.stop();
    });

    const evaluate = (auth: Partial<HttpAuth>) =>
      new AlertGate({
        sources: [prometheusAlerts(url, { timeoutMs: 2000, ...auth })],
        promql: [],
        filter: { matchOnly: false, firingOnly: false, matchers: [], includeOwn: false },
        failOpen: false,
      }).evaluate(NODES);

    describe('alert source over TLS (real Prometheus with web.config.file)', () => {
      it('trusts the server with --alert-ca-file and reads its alerts', async () => {
        const v = await eventually(
          'Prometheus answering over TLS',
          async () => {
            const v = await evaluate({ caFile: join(dir, 'test-ca.crt') });
            return v.all === undefined && v;
          },
          30_000,
          250,
        );
        expect(v.perNode.size).toBe(0);
      });

      it('fails closed, naming the certificate problem, without the CA or with the wrong one', async () => {
        for (const auth of [{}, { caFile: join(dir, 'other-ca.crt') }]) {
          const v = await evaluate(auth);
          expect(v.all).toMatch(/failed \(failing closed\)/);
          expect(v.all).toMatch(/certificate|self[- ]signed|issuer/i);
        }
      });

      it('fails closed naming the file when the CA file is missing', async () => {
        const v = await evaluate({ caFile: join(dir, 'missing-ca.crt') });
        expect(v.all).toMatch(/failed \(failing closed\)/);
        expect(v.all).toContain('missing-ca.crt');
      });

      it('connects with --alert-insecure-skip-verify', async () => {
        const v = await evaluate({ insecureSkipVerify: true });
        expect(v.all).toBeUndefined();
      });
    });
  });
}
