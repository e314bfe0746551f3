// `kreboot controller`: leader election, the caches, the reconciler and the metrics server.

import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { AlertGate } from '../alerts/gate.ts';
import { alertmanagerAlerts, prometheusAlerts, promqlGate } from '../alerts/sources.ts';
import { ConfigError, helpText, parseOptions } from '../config/options.ts';
import { KubeHttp } from '../kube/http.ts';
import { Leases } from '../protocol.ts';
import { connectClient } from '../runtime/client-connect.ts';
import { serve, stopServer, untilSignal } from '../runtime/command-runtime.ts';
import { createLogger } from '../runtime/logger.ts';
import { VERSION } from '../version.ts';
import { type ControllerConfig, controllerOptions } from './config.ts';
import { ApiEventSink } from './events.ts';
import { LeaderElector, type LeadershipDemand } from './leader.ts';
import { LeaseClient } from './lease.ts';
import { type ControllerMetrics, controllerMetrics } from './metrics.ts';
import { Notifier } from './notify/notifier.ts';
import { NotifyingEventSink } from './notify/notifying-events.ts';
import { parseTarget, type Target, TargetError } from './notify/targets.ts';
import { Reconciler } from './reconciler.ts';

const SUMMARY =
  'Leader-elected controller: takes the cluster lock, checks the gates, then cordons, drains (Eviction API),\n' +
  'approves the reboot, verifies the new boot and uncordons, one node (or a bounded few) at a time.';

function alertGateFrom(cfg: ControllerConfig, log: Logger, metrics: ControllerMetrics): AlertGate {
  const auth = {
    timeoutMs: cfg.alertTimeout,
    maxBytes: cfg.alertMaxResponseBytes,
    bearerTokenFile: cfg.alertBearerTokenFile,
    basicAuthFile: cfg.alertBasicAuthFile,
    caFile: cfg.alertCaFile,
    insecureSkipVerify: cfg.alertInsecureSkipVerify,
  };
  const sources = [];
  if (cfg.prometheusUrl) sources.push(prometheusAlerts(cfg.prometheusUrl, auth));
  if (cfg.alertmanagerUrl) sources.push(alertmanagerAlerts(cfg.alertmanagerUrl, auth));
  if (cfg.promqlGate.length && !cfg.prometheusUrl) {
    throw new ConfigError(['--promql-gate: needs --prometheus-url to ask']);
  }
  return new AlertGate({
    sources,
    promql: cfg.promqlGate.map((e) => promqlGate(cfg.prometheusUrl!, e, auth)),
    filter: {
      regexp: cfg.alertFilterRegexp,
      matchOnly: cfg.alertFilterMatchOnly,
      firingOnly: cfg.alertFiringOnly,
      matchers: cfg.alertMatchers,
      nodeLabel: cfg.alertNodeLabel,
      includeOwn: cfg.alertIncludeKreboot,
    },
    failOpen: cfg.alertFailOpen,
    onError: (source, err) => {
      metrics.alertSourceErrors.inc({ source });
      log.warn({ reason: 'alert-source-failed', source, err: err.message }, 'alert source failed');
    },
  });
}

export async function runController(argv: string[]): Promise<number> {
  const { values: cfg, help } = parseOptions(controllerOptions, argv, process.env);
  if (help) {
    process.stdout.write(helpText('controller', SUMMARY, controllerOptions));
    return 0;
  }
  if (cfg.renewDeadline >= cfg.leaseDuration) {
    throw new ConfigError([
      `--renew-deadline (${cfg.renewDeadline / 1000}s) must be shorter than --lease-duration (${cfg.leaseDuration / 1000}s)`,
    ]);
  }
  if (cfg.retryPeriod >= cfg.renewDeadline) {
    throw new ConfigError([
      `--retry-period (${cfg.retryPeriod / 1000}s) must be shorter than --renew-deadline (${cfg.renewDeadline / 1000}s)`,
    ]);
  }
  const log = createLogger(cfg.logLevel, cfg.logFormat, { component: 'controller', identity: cfg.identity });
  const conn = await connectClient({ kubeconfig: cfg.kubeconfig, context: cfg.context });
  const http = new KubeHttp(conn, `kreboot-controller/${VERSION}`);
  const metrics = controllerMetrics();
  // Notifications ride on the leader's Events; they are queued per receiver and never hold up a pass.
  const apiEvents = new ApiEventSink(http, cfg.identity, log, {
    onDrop: (why) => metrics.eventsDropped.inc({ why }),
  });
  const targets = notifyTargets(cfg);
  const notifier = targets.length
    ? new Notifier(targets, log, {
        ...(cfg.notifyTemplate ? { template: cfg.notifyTemplate } : {}),
        onResult: (t, result) => metrics.notifications.inc({ target: t.label, result }),
      })
    : undefined;
  const notifying = notifier ? new NotifyingEventSink(apiEvents, notifier, cfg.notifyClusterName) : undefined;
  const events = notifying ?? apiEvents;
  if (notifier) log.info({ phase: 'start', targets: targets.map((t) => t.label) }, 'notifications on');
  const reconciler = new Reconciler({
    http,
    namespace: cfg.namespace,
    identity: cfg.identity,
    settings: {
      concurrency: cfg.concurrency,
      zoneConcurrency: cfg.zoneConcurrency,
      drain: {
        emptyDir: cfg.drainEmptydirPods,
        unmanaged: cfg.drainUnmanagedPods,
        podSelector: cfg.drainPodSelector,
        skipDeletingAfterMs: cfg.skipWaitForDeleteTimeout,
        ...(cfg.drainGracePeriod >= 0 ? { gracePeriodSeconds: cfg.drainGracePeriod } : {}),
      },
      drainDelayMs: cfg.drainDelay,
      preRebootLabels: cfg.preRebootNodeLabels,
      postRebootLabels: cfg.postRebootNodeLabels,
      preferNoScheduleTaint: cfg.preferNoScheduleTaint,
      rebootDelayMs: cfg.rebootDelay,
      blockingPodSelectors: cfg.blockingPodSelector,
      retryAfterFailureMs: cfg.retryAfterFailure,
      resyncMs: cfg.resyncPeriod,
      drainTimeoutMs: cfg.drainTimeout,
      drainTimeoutPolicy: cfg.drainTimeoutPolicy,
      rebootTimeoutMs: cfg.rebootTimeout,
      soakMs: cfg.soakTime,
      minPhaseMs: cfg.minPhaseTime,
      nodeSelector: cfg.nodeSelector,
      windows: {
        defaultWindow: cfg.defaultWindow,
        endMarginMs: cfg.windowEndMargin,
        selector: cfg.windowSelector,
      },
    },
    log,
    metrics,
    events,
    ...(notifying
      ? {
          blocked: { afterMs: cfg.notifyBlockedAfter, notify: (node, note) => notifying.blocked(node, note) },
        }
      : {}),
    alerts: {
      gate: alertGateFrom(cfg, log, metrics),
      pollMs: cfg.alertPollPeriod,
      // Each source has --alert-timeout as its own total deadline; the round gets a second more.
      deadlineMs: cfg.alertTimeout + 1000,
    },
  });
  const elector = new LeaderElector(
    new LeaseClient(http, cfg.namespace, 'lease'),
    {
      name: Leases.leader,
      identity: cfg.identity,
      leaseDurationMs: cfg.leaseDuration,
      renewDeadlineMs: cfg.renewDeadline,
      retryPeriodMs: cfg.retryPeriod,
    },
    log,
  );

  const stop = new AbortController();
  let synced = false;
  const server = await serve(cfg.metricsPort, cfg.metricsAddress, {
    metrics: async () => ({
      contentType: metrics.registry.contentType,
      body: await metrics.registry.metrics(),
    }),
    ready: () => ({ ok: synced, why: synced ? 'ok' : 'caches not synced' }),
  });
  log.info({ phase: 'start', api: conn.source, namespace: cfg.namespace, version: VERSION }, 'controller up');
  await reconciler.startCaches(stop.signal);
  synced = true;

  const onDemand: LeadershipDemand | undefined =
    cfg.leadership === 'on-demand'
      ? {
          wanted: () => {
            const d = reconciler.demand();
            metrics.work.set(d.reason ? 1 : 0);
            return d.reason !== undefined;
          },
          waitForWork: async (signal) => {
            const why = await reconciler.waitForWork(signal);
            metrics.work.set(why ? 1 : 0);
            return why;
          },
          idleReleaseMs: cfg.idleRelease,
        }
      : undefined;
  const election = elector.run(
    stop.signal,
    (term) => {
      metrics.leader.set(1);
      term.addEventListener('abort', () => metrics.leader.set(0), { once: true });
      void reconciler
        .run(term)
        .catch((err: Error) =>
          log.error({ reason: 'reconciler-crashed', err: err.message }, 'reconciler stopped'),
        );
    },
    onDemand,
  );

  const sig = await untilSignal();
  log.info({ phase: 'stop', reason: sig }, 'stopping');
  stop.abort();
  await election.catch(() => {});
  notifier?.close();
  await elector.release();
  stopServer(server);
  http.close();
  return 0;
}

/** --notify-url and the lines of --notify-url-file as targets; a bad one is named by where it is, never echoed. */
function notifyTargets(cfg: ControllerConfig): Target[] {
  const entries: Array<{ where: string; url: string }> = cfg.notifyUrl
    .split(/\s+/)
    .filter(Boolean)
    .map((url, i) => ({ where: `--notify-url (URL ${i + 1})`, url }));
  if (cfg.notifyUrlFile) {
    let text: string;
    try {
      text = readFileSync(cfg.notifyUrlFile, 'utf8');
    } catch (err) {
      throw new ConfigError([
        `--notify-url-file: cannot read ${cfg.notifyUrlFile}: ${(err as Error).message}`,
      ]);
    }
    text.split('\n').forEach((line, i) => {
      const url = line.trim();
      if (url && !url.startsWith('#'))
        entries.push({ where: `--notify-url-file ${cfg.notifyUrlFile} line ${i + 1}`, url });
    });
  }
  const problems: string[] = [];
  const targets = entries.flatMap(({ where, url }) => {
    try {
      return [parseTarget(url)];
    } catch (err) {
      if (!(err instanceof TargetError)) throw err;
      problems.push(`${where}: ${err.message}`);
      return [];
    }
  });
  if (problems.length) throw new ConfigError(problems);
  return targets;
}
