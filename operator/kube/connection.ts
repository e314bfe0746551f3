// Where the API server is and who we are to it: in-cluster service-account credentials or a kubeconfig file.
// Deliberately small (the agent runs on every node and must stay cheap): the fields people actually use,
// and a clear error naming the field for anything else.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

/** TLS and auth for one request, as a credential plugin or a rotating file gives them now. */
export interface RequestAuth {
  headers?: Record<string, string | string[]>;
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer | Array<string | Buffer>;
  key?: string | Buffer | Array<string | Buffer>;
  servername?: string;
  rejectUnauthorized?: boolean;
  /** user:password (basic auth) */
  auth?: string;
}

export interface Connection {
  server: string;
  /**
   * Per-request credentials (the controller's and the CLI's kubeconfigs: exec plugins, auth providers): they
   * replace the static fields below. Throws a ConnectionError naming the user and the plugin when they fail.
   */
  authorize?: () => Promise<RequestAuth>;
  /** Every request through this agent (a kubeconfig's proxy-url). */
  proxyAgent?: import('node:http').Agent;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTLSVerify?: boolean;
  /** Returns the current bearer token, if any (re-read from file: bound tokens rotate). */
  token?: () => string | undefined;
  /** Where this came from, for logs and errors. */
  source: string;
}

export class ConnectionError extends Error {
  override name = 'ConnectionError';
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A token read from a file, cached for a minute, as client-go does for projected service-account tokens. */
function tokenFromFile(path: string): () => string | undefined {
  let cached: string | undefined;
  let readAt = 0;
  return () => {
    if (Date.now() - readAt > 60_000) {
      try {
        cached = readFileSync(path, 'utf8').trim();
        readAt = Date.now();
      } catch {
        // keep the last good token; the request fails with 401 if it expired
      }
    }
    return cached;
  };
}

export function inClusterConnection(
  env: Readonly<Record<string, string | undefined>> = process.env,
  saDir = SA_DIR,
): Connection | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  const tokenFile = `${saDir}/token`;
  if (!existsSync(tokenFile)) {
    throw new ConnectionError(
      `running in a cluster (KUBERNETES_SERVICE_HOST is set) but ${tokenFile} is missing: mount a service-account token (automountServiceAccountToken: true)`,
    );
  }
  const h = host.includes(':') ? `[${host}]` : host;
  return {
    server: `https://${h}:${port}`,
    ca: readFileSync(`${saDir}/ca.crt`),
    token: tokenFromFile(tokenFile),
    source: 'in-cluster service account',
  };
}

interface Named<T> {
  name?: string;
  [k: string]: unknown;
  value?: T;
}

type Dict = Record<string, unknown>;

function pick(list: unknown, name: string, what: string, file: string, field: string): Dict {
  if (!Array.isArray(list)) throw new ConnectionError(`${file}: "${what}s" must be a list`);
  const item = (list as Named<unknown>[]).find((x) => x && x.name === name);
  if (!item) throw new ConnectionError(`${file}: ${field} "${name}" has no entry in "${what}s"`);
  const inner = item[what];
  if (!inner || typeof inner !== 'object')
    throw new ConnectionError(`${file}: ${what}s[${name}].${what} is missing`);
  return inner as Dict;
}

function fileOrData(
  dict: Dict,
  fileKey: string,
  dataKey: string,
  base: string,
  where: string,
): Buffer | undefined {
  const data = dict[dataKey];
  if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
  const f = dict[fileKey];
  if (typeof f === 'string' && f) {
    const p = isAbsolute(f) ? f : resolve(base, f);
    try {
      return readFileSync(p);
    } catch (err) {
      throw new ConnectionError(`${where}.${fileKey}: cannot read ${p}: ${(err as Error).message}`);
    }
  }
  return undefined;
}

async function parseYaml(text: string): Promise<Dict> {
  const mod = (await import('yaml')) as unknown as {
    parse?: (t: string) => Dict;
    default?: { parse: (t: string) => Dict };
  };
  const parse = mod.parse ?? mod.default?.parse;
  if (!parse) throw new Error('yaml parser unavailable');
  return parse(text);
}

/** Parses a kubeconfig (YAML or JSON) and resolves its current context (or `context`). */
export async function kubeconfigConnection(path: string, context?: string): Promise<Connection> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConnectionError(`kubeconfig ${path}: cannot read it: ${(err as Error).message}`);
  }
  let doc: Dict;
  try {
    // YAML is loaded only when a kubeconfig is used: in-cluster agents never pay for the parser.
    doc = text.trimStart().startsWith('{') ? JSON.parse(text) : await parseYaml(text);
  } catch (err) {
    throw new ConnectionError(`kubeconfig ${path}: not valid YAML/JSON: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') throw new ConnectionError(`kubeconfig ${path}: empty`);
  const ctxName = context ?? (doc['current-context'] as string | undefined);
  if (!ctxName)
    throw new ConnectionError(`kubeconfig ${path}: no current-context; pass --context or set one`);
  const ctx = pick(doc.contexts, ctxName, 'context', path, 'context');
  const cluster = pick(doc.clusters, String(ctx.cluster), 'cluster', path, `contexts[${ctxName}].cluster`);
  const user = ctx.user ? pick(doc.users, String(ctx.user), 'user', path, `contexts[${ctxName}].user`) : {};
  const base = dirname(resolve(path));
  if (typeof cluster.server !== 'string' || !cluster.server) {
    throw new ConnectionError(`kubeconfig ${path}: clusters[${ctx.cluster}].cluster.server is missing`);
  }
  for (const unsupported of ['exec', 'auth-provider']) {
    if (user[unsupported]) {
      throw new ConnectionError(
        `kubeconfig ${path}: users[${ctx.user}].user.${unsupported} is not supported by the agent's small client (the controller and the CLI support it); give the agent a token, tokenFile or client certificate`,
      );
    }
  }
  const conn: Connection = {
    server: cluster.server.replace(/\/+$/, ''),
    ca: fileOrData(
      cluster,
      'certificate-authority',
      'certificate-authority-data',
      base,
      `clusters[${ctx.cluster}]`,
    ),
    cert: fileOrData(user, 'client-certificate', 'client-certificate-data', base, `users[${ctx.user}]`),
    key: fileOrData(user, 'client-key', 'client-key-data', base, `users[${ctx.user}]`),
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
    source: `kubeconfig ${path} (context ${ctxName})`,
  };
  if (typeof user.token === 'string' && user.token) {
    const t = user.token;
    conn.token = () => t;
  } else if (typeof user.tokenFile === 'string' && user.tokenFile) {
    conn.token = tokenFromFile(isAbsolute(user.tokenFile) ? user.tokenFile : resolve(base, user.tokenFile));
  }
  if (!!conn.cert !== !!conn.key) {
    throw new ConnectionError(
      `kubeconfig ${path}: users[${ctx.user}] has a client certificate without a key, or a key without a certificate`,
    );
  }
  return conn;
}

/** --kubeconfig, else $KUBECONFIG, else in-cluster, else ~/.kube/config. */
export async function loadConnection(
  opts: { kubeconfig?: string; context?: string },
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<Connection> {
  const explicit = opts.kubeconfig || env.KUBECONFIG?.split(':')[0];
  if (explicit) return kubeconfigConnection(explicit, opts.context);
  const inCluster = inClusterConnection(env);
  if (inCluster) return inCluster;
  const home = `${env.HOME ?? ''}/.kube/config`;
  if (env.HOME && existsSync(home)) return kubeconfigConnection(home, opts.context);
  throw new ConnectionError(
    'no API server configured: run in a cluster, or pass --kubeconfig (or set KUBECONFIG, or create ~/.kube/config)',
  );
}
