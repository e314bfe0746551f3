// The CLI's client retries a read the API server turns away for a moment (429/503 with Retry-After, e.g. "storage
// is (re)initializing" right after a CRD changes: seen failing `kreboot status` in CI), never a write, and gives up
// after 6 attempts with the server's own message.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliHttp } from '../../operator/cli/http.ts';

const dir = mkdtempSync(join(tmpdir(), 'kreboot-cli-http-'));
let server: Server;
let url = '';
let busyAnswers = 0;
let seen: string[] = [];

beforeAll(async () => {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  server = createServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    (req, res) => {
      seen.push(req.method!);
      if (busyAnswers > 0) {
        busyAnswers--;
        res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '1' }).end(
          JSON.stringify({
            kind: 'Status',
            status: 'Failure',
            message: 'storage is (re)initializing',
            reason: 'TooManyRequests',
            code: 429,
          }),
        );
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"items":[]}');
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const client = () => new CliHttp({ server: url, insecureSkipTLSVerify: true, source: 'test' });

describe('the CLI client and a busy API server', () => {
  it('a read answered 429 twice is tried again after Retry-After and succeeds', async () => {
    busyAnswers = 2;
    seen = [];
    const http = client();
    expect(await http.request('/api/v1/nodes')).toEqual({ items: [] });
    expect(seen).toEqual(['GET', 'GET', 'GET']);
    http.close();
  });

  it('a write is not retried; a read still busy after 6 attempts fails with the server message', async () => {
    const http = client();
    busyAnswers = 1;
    seen = [];
    await expect(http.request('/api/v1/nodes/x', { method: 'PATCH', body: {} })).rejects.toThrow(
      /storage is \(re\)initializing/,
    );
    expect(seen).toEqual(['PATCH']);
    busyAnswers = 10;
    seen = [];
    await expect(http.request('/api/v1/nodes')).rejects.toThrow(/storage is \(re\)initializing/);
    expect(seen).toHaveLength(6);
    busyAnswers = 0;
    http.close();
  }, 30_000);
});
