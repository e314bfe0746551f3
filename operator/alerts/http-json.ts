// GET a JSON document from Prometheus or Alertmanager: TLS CA, bearer token or basic auth, a hard total deadline
// (a server that drips one byte at a time still ends within it), a size cap on the answer (read as a stream and
// dropped past the cap, so memory stays bounded whatever the server sends), redirects refused, and errors that
// say what was wrong (status, not JSON, truncated) instead of crashing.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpAuth {
  bearerTokenFile?: string;
  /** "user:password" */
  basicAuthFile?: string;
  caFile?: string;
  insecureSkipVerify?: boolean;
  /** Total deadline for one request, connect to last byte. */
  timeoutMs: number;
  /** Largest answer read; a larger one is an error (fail closed). Default DEFAULT_MAX_BYTES. */
  maxBytes?: number;
}

export class SourceError extends Error {
  override name = 'SourceError';
}

/** 8 MiB: about 20,000 Prometheus alerts with typical labels; parsing that stays well inside the controller's limit. */
export const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;

export function getJson(url: URL, auth: HttpAuth, signal?: AbortSignal): Promise<unknown> {
  const maxBytes = auth.maxBytes ?? DEFAULT_MAX_BYTES;
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
        const code = res.statusCode ?? 0;
        if (code >= 300 && code < 400) {
          // A redirect's body can look like a valid empty answer; following it blindly could read anything.
          res.resume();
          return abortWith(
            new SourceError(
              `HTTP ${code} redirect to ${res.headers.location ?? '(no location)'}: redirects are not followed; point the URL at the final address`,
            ),
          );
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) {
            chunks.length = 0;
            abortWith(
              new SourceError(
                `answer larger than ${maxBytes} bytes (--alert-max-response-bytes); not read further, failing closed`,
              ),
            );
          } else chunks.push(c);
        });
        res.on('aborted', () => reject(new SourceError('answer cut off (truncated)')));
        res.on('error', (e) => reject(new SourceError(`reading the answer failed: ${e.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (code >= 300 || code < 200) {
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
    // The first failure is the one reported (reject() keeps its first call); destroying the request may raise others.
    function abortWith(e: SourceError): void {
      reject(e);
      req.destroy(e);
    }
    // The socket timeout alone never fires on a server that sends a byte now and then: a total deadline does.
    const deadline = setTimeout(
      () => abortWith(new SourceError(`no complete answer within ${auth.timeoutMs} ms (--alert-timeout)`)),
      auth.timeoutMs,
    );
    const onAbort = () => abortWith(new SourceError('aborted'));
    req.on('close', () => {
      clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
    });
    req.on('timeout', () => abortWith(new SourceError(`no answer within ${auth.timeoutMs} ms`)));
    req.on('error', (e) => reject(e instanceof SourceError ? e : new SourceError(e.message)));
    signal?.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}
