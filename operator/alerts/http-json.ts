// GET a JSON document from Prometheus or Alertmanager: TLS CA, bearer token or basic auth, a hard timeout, and
// errors that say what was wrong (status, not JSON, truncated) instead of crashing.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpAuth {
  bearerTokenFile?: string;
  /** "user:password" */
  basicAuthFile?: string;
  caFile?: string;
  insecureSkipVerify?: boolean;
  timeoutMs: number;
}

export class SourceError extends Error {
  override name = 'SourceError';
}

const MAX_BYTES = 32 * 1024 * 1024;

export function getJson(url: URL, auth: HttpAuth, signal?: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Accept: 'application/json' };
    try {
      if (auth.bearerTokenFile)
        headers.Authorization = `Bearer ${readFileSync(auth.bearerTokenFile, 'utf8').trim()}`;
      else if (auth.basicAuthFile)
        headers.Authorization = `Basic ${Buffer.from(readFileSync(auth.basicAuthFile, 'utf8').trim()).toString('base64')}`;
    } catch (err) {
      return reject(new SourceError(`cannot read credentials: ${(err as Error).message}`));
    }
    const secure = url.protocol === 'https:';
    const req = (secure ? httpsRequest : httpRequest)(
      url,
      {
        headers,
        timeout: auth.timeoutMs,
        ...(secure
          ? {
              ca: auth.caFile ? readFileSync(auth.caFile) : undefined,
              rejectUnauthorized: !auth.insecureSkipVerify,
            }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BYTES) req.destroy(new SourceError(`answer larger than ${MAX_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('aborted', () => reject(new SourceError('answer cut off (truncated)')));
        res.on('error', (e) => reject(new SourceError(`reading the answer failed: ${e.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 400 || (res.statusCode ?? 0) < 200) {
            return reject(new SourceError(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          }
          if (!res.complete) return reject(new SourceError('answer cut off (truncated)'));
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(
              new SourceError(
                text.trim() === ''
                  ? 'empty answer'
                  : `not JSON (or truncated): ${JSON.stringify(text.slice(0, 80))}`,
              ),
            );
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new SourceError(`no answer within ${auth.timeoutMs} ms`)));
    req.on('error', (e) => reject(e instanceof SourceError ? e : new SourceError(e.message)));
    signal?.addEventListener('abort', () => req.destroy(new SourceError('aborted')), { once: true });
    req.end();
  });
}
