// Credentials the way kubectl loads them, for the controller and the CLI (never the agent: its chunk must not
// load @kubernetes/client-node, see ARCHITECTURE.md): --kubeconfig, else every file of $KUBECONFIG merged as kubectl
// merges them (the first file to name a cluster, user or context wins, and the first current-context), else the
// in-cluster service account, else ~/.kube/config. client-node's KubeConfig parses the files and supplies the
// credentials: exec plugins (cached until their expirationTimestamp), auth providers, tokens and token files,
// client certificates, proxy-url and tls-server-name; --context and --as/--as-group are applied here. The
// requests themselves go through kreboot's own transport (http.ts).
import { existsSync } from 'node:fs';
import type { Agent } from 'node:http';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { type Connection, ConnectionError, inClusterConnection, type RequestAuth } from './connection.ts';

export interface ClientOptions {
  kubeconfig?: string;
  context?: string;
  /** Impersonate this user (kubectl --as). */
  as?: string;
  /** Impersonate these groups (kubectl --as-group). */
  asGroups?: string[];
}

function loadFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw new ConnectionError(`kubeconfig ${file}: ${(err as Error).message}`);
  }
  return kc;
}

/** kubectl's merge: for each name the first file that defines it wins; the first current-context wins. */
function merge(files: string[]): KubeConfig {
  const loaded = files.filter((f) => existsSync(f)).map(loadFile);
  if (!loaded.length)
    throw new ConnectionError(`KUBECONFIG=${files.join(delimiter)}: none of these files exists`);
  const first = <T extends { name: string }>(lists: T[][]) => {
    const out = new Map<string, T>();
    for (const list of lists) for (const x of list) if (!out.has(x.name)) out.set(x.name, x);
    return [...out.values()];
  };
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: first(loaded.map((k) => k.getClusters())),
    users: first(loaded.map((k) => k.getUsers())),
    contexts: first(loaded.map((k) => k.getContexts())),
    currentContext: loaded.map((k) => k.getCurrentContext()).find((c) => !!c) ?? '',
  });
  return kc;
}

export async function loadClientConnection(
  o: ClientOptions,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<Connection> {
  let kc: KubeConfig;
  let where: string;
  if (o.kubeconfig) {
    kc = loadFile(o.kubeconfig);
    where = `kubeconfig ${o.kubeconfig}`;
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter(Boolean);
    kc = merge(files);
    where = `KUBECONFIG=${env.KUBECONFIG}`;
  } else {
    const inCluster = !o.context && !o.as && inClusterConnection(env);
    if (inCluster) return inCluster;
    const home = `${env.HOME ?? ''}/.kube/config`;
    if (!env.HOME || !existsSync(home))
      throw new ConnectionError(
        'no API server configured: run in a cluster, or pass --kubeconfig (or set KUBECONFIG, or create ~/.kube/config)',
      );
    kc = loadFile(home);
    where = `kubeconfig ${home}`;
  }
  if (o.context) {
    if (!kc.getContextObject(o.context))
      throw new ConnectionError(
        `${where}: --context ${o.context} is not one of its contexts (${kc
          .getContexts()
          .map((c) => c.name)
          .join(', ')})`,
      );
    kc.setCurrentContext(o.context);
  }
  const ctx = kc.getCurrentContext();
  if (!ctx) throw new ConnectionError(`${where}: no current-context; pass --context or set one`);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster) throw new ConnectionError(`${where}: context ${ctx} names no cluster that the file defines`);
  if (!user) throw new ConnectionError(`${where}: context ${ctx} names no user that the file defines`);
  if (o.as) (user as { impersonateUser?: string }).impersonateUser = o.as;
  const plugin = user.exec ? `exec plugin ${String((user.exec as { command?: string }).command)}` : undefined;
  // The proxy agent (proxy-url), when there is one, is the library's: every request goes through it.
  let proxyAgent: Agent | undefined;
  if (cluster.proxyUrl) {
    const probe: RequestAuthWithAgent = { headers: {} };
    await kc.applyToHTTPSOptions(probe as never).catch(() => {});
    proxyAgent = probe.agent;
  }
  const userName = user.name;
  /** The credentials for one request, from the library (an exec plugin runs only when its credential expired). */
  const authorizeNow = async (): Promise<RequestAuth> => {
    const opts: RequestAuthWithAgent = { headers: {} };
    try {
      await kc.applyToHTTPSOptions(opts as never);
    } catch (err) {
      const msg = (err as Error).message.trim() || 'failed with no message';
      throw new ConnectionError(
        `${where}: user ${userName}: ${plugin ?? 'credentials'} failed: ${msg.slice(0, 500)}`,
      );
    }
    const headers: Record<string, string | string[]> = { ...(opts.headers ?? {}) };
    if (o.asGroups?.length) headers['Impersonate-Group'] = o.asGroups;
    return {
      headers,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      servername: opts.servername,
      rejectUnauthorized: opts.rejectUnauthorized,
      auth: opts.auth,
    };
  };
  let inflight: Promise<RequestAuth> | undefined;
  return {
    server: cluster.server.replace(/\/+$/, ''),
    source: `${where} (context ${ctx}${o.as ? `, as ${o.as}` : ''})`,
    proxyAgent,
    // One lookup at a time: requests that start together share it (one plugin run, not one each).
    authorize: () => {
      inflight ??= authorizeNow().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
  };
}

interface RequestAuthWithAgent extends RequestAuth {
  agent?: Agent;
}
