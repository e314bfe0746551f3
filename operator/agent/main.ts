// `kreboot agent`: wires config, the API connection, the sentinel, the rebooter and the metrics server.
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, helpText, parseOptions } from '../config/options.ts';
import { KubeHttp } from '../kube/http.ts';
import { ownNodeApi } from '../kube/own-node.ts';
import { CONTENT_TYPE, Registry } from '../metrics/registry.ts';
import { Metrics } from '../protocol.ts';
import { connect, serve, stopServer, untilSignal } from '../runtime/command-runtime.ts';
import { createLogger } from '../runtime/logger.ts';
import { VERSION } from '../version.ts';
import { Agent } from './agent.ts';
import { agentOptions } from './config.ts';
import { commandRebooter, type Rebooter, signalRebooter } from './reboot.ts';
import { checkSentinel } from './sentinel.ts';
import { loadTrimNative, scheduleTrim, TRIM_BINDING, type TrimNative } from './trim.ts';

const SUMMARY =
  'Per-node agent: reports on its own Node whether this host needs a reboot, and reboots it only when the\n' +
  "controller's approval names this boot. It never cordons, drains or touches another node.";

export async function readBootId(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`--boot-id-file: cannot read ${file}: ${(err as Error).message}`]);
  }
  const id = text.trim();
  if (!id) throw new ConfigError([`--boot-id-file: ${file} is empty; it must hold this boot's ID`]);
  return id;
}

/**
 * The agent's memory measures (trim.ts) through their native binding next to the entry script (/app/trim.node in
 * the image), or undefined when they are off or the binding is missing (logged). Huge pages go off at once, before
 * the agent's heap grows; the trim comes later, once it has settled.
 */
function memoryNative(afterMs: number, log: Logger): TrimNative | undefined {
  if (afterMs === 0) return undefined;
  const entry = process.argv[1] ? realpathSync(process.argv[1]) : '';
  const loaded = loadTrimNative(join(dirname(entry), TRIM_BINDING));
  if ('why' in loaded) {
    log.info({ phase: 'trim', reason: loaded.why }, 'memory trim off');
    return undefined;
  }
  const rc = loaded.native.noHugePages();
  if (rc !== 0)
    log.warn(
      { phase: 'trim', reason: `prctl(PR_SET_THP_DISABLE) failed, errno ${rc}` },
      'huge pages stay on',
    );
  return loaded.native;
}

export async function runAgent(argv: string[]): Promise<number> {
  const { values: cfg, help } = parseOptions(agentOptions, argv, process.env);
  if (help) {
    process.stdout.write(helpText('agent', SUMMARY, agentOptions));
    return 0;
  }
  const log = createLogger(cfg.logLevel, cfg.logFormat, { node: cfg.nodeName, component: 'agent' });
  const native = memoryNative(cfg.memoryTrimAfter, log);
  const bootId = await readBootId(cfg.bootIdFile);
  const conn = await connect(cfg.kubeconfig);
  const http = new KubeHttp(conn, `kreboot-agent/${VERSION}`);

  const registry = new Registry();
  const metrics = {
    rebootRequired: registry.gauge(
      Metrics.rebootRequired,
      'Whether this node needs a reboot (1) or not (0).',
    ),
    checkErrors: registry.counter(Metrics.checkErrors, 'Sentinel checks that failed.'),
    lastCheck: registry.gauge(Metrics.lastCheck, 'Unix time of the last successful sentinel check.'),
    apiErrors: registry.counter(Metrics.agentApiErrors, 'Failed calls to the Kubernetes API.'),
    reboots: registry.counter(Metrics.agentReboots, 'Reboots this agent started, by result.'),
  };
  metrics.checkErrors.touch();
  metrics.apiErrors.touch();

  const rebooter: Rebooter =
    cfg.rebootMethod === 'signal' ? signalRebooter() : commandRebooter(cfg.rebootCommand, cfg.direct);
  const agent = new Agent({
    api: ownNodeApi(http, cfg.nodeName),
    check: () =>
      checkSentinel({
        file: cfg.sentinelFile,
        command: cfg.sentinelCommand,
        direct: cfg.direct,
        timeoutMs: cfg.commandTimeout,
      }),
    bootId,
    rebooter,
    log,
    metrics,
    watchFile: cfg.sentinelCommand ? undefined : cfg.sentinelFile,
    checkPeriodMs: cfg.checkPeriod,
    watchSilenceMs: cfg.watchSilenceTimeout,
    checkTimeoutMs: cfg.commandTimeout,
  });

  const server = await serve(cfg.metricsPort, cfg.metricsAddress, {
    metrics: async () => ({ contentType: CONTENT_TYPE, body: registry.render() }),
    ready: () => ({ ok: agent.ready, why: agent.ready ? 'ok' : 'not ready' }),
    live: () => agent.liveness(),
  });
  log.info({ phase: 'start', api: conn.source, metricsPort: cfg.metricsPort, version: VERSION }, 'agent up');
  agent.start();
  const cancelTrim = native
    ? scheduleTrim({ afterMs: cfg.memoryTrimAfter, ready: () => agent.ready, native, log })
    : () => {};

  const sig = await untilSignal();
  log.info({ phase: 'stop', reason: sig }, 'stopping');
  cancelTrim();
  stopServer(server);
  await agent.stop();
  http.close();
  return 0;
}
