// The controller's metrics (prom-client: it runs twice per cluster, not on every node).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Metrics, Phases, WaitReasons } from '../protocol.ts';

export function controllerMetrics() {
  const registry = new Registry();
  const m = {
    registry,
    nodes: new Gauge({
      name: Metrics.nodes,
      help: 'Nodes by rollout phase (pending = needs a reboot, not started).',
      labelNames: ['phase'],
      registers: [registry],
    }),
    reboots: new Counter({
      name: Metrics.reboots,
      help: 'Finished node reboots by result.',
      labelNames: ['result'],
      registers: [registry],
    }),
    phaseDuration: new Histogram({
      name: Metrics.phaseDuration,
      help: 'Time nodes spent in each phase.',
      labelNames: ['phase'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: Metrics.reconcileDuration,
      help: 'Time one reconcile pass took (observe, repairs, gates, steps, starts, report), API calls included.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    blocked: new Gauge({
      name: Metrics.blockedNodes,
      help: 'Nodes that need a reboot but wait, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    lockHolders: new Gauge({
      name: Metrics.lockHolders,
      help: 'Entries in the cluster lock.',
      registers: [registry],
    }),
    leader: new Gauge({ name: Metrics.leader, help: '1 while this replica leads.', registers: [registry] }),
    work: new Gauge({
      name: Metrics.work,
      help: '1 while this replica sees work for a leader (a node pending or in flight, a halted rollout, a window status to write); with --leadership=on-demand no replica leads while it is 0.',
      registers: [registry],
    }),
    oldestPending: new Gauge({
      name: Metrics.oldestPending,
      help: 'Age of the longest-waiting reboot request.',
      registers: [registry],
    }),
    alertSourceErrors: new Counter({
      name: Metrics.alertSourceErrors,
      help: 'Failed requests to an alert source (Prometheus, Alertmanager, PromQL gate).',
      labelNames: ['source'],
      registers: [registry],
    }),
    phaseAge: new Gauge({
      name: Metrics.phaseAge,
      help: 'Seconds each node in progress has spent in its current phase (for "stuck" alerts).',
      labelNames: ['node', 'phase'],
      registers: [registry],
    }),
    apiErrors: new Counter({
      name: Metrics.controllerApiErrors,
      help: 'Failed API calls of a reconcile pass by class (conflict, rejected, throttled, network).',
      labelNames: ['class'],
      registers: [registry],
    }),
    eventsDropped: new Counter({
      name: Metrics.eventsDropped,
      help: 'Events not written: duplicate (the same Event within 60 s) or rate (over the rate limit).',
      labelNames: ['why'],
      registers: [registry],
    }),
    notifications: new Counter({
      name: Metrics.notifications,
      help: 'Notifications by receiver (service and host) and result: sent, retried, failed (given up) or dropped (queue full).',
      labelNames: ['target', 'result'],
      registers: [registry],
    }),
    halted: new Gauge({
      name: Metrics.halted,
      help: '1 while the rollout is halted (a node did not come back).',
      registers: [registry],
    }),
  };
  // The process's memory, for dashboards and the soak bench. (prom-client's default set is not used: three of its
  // gauges end in _total, which promtool rejects.)
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'nodejs_heap_size_used_bytes',
    help: 'V8 heap in use, in bytes.',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
  for (const p of ['pending', ...Phases]) m.nodes.set({ phase: p }, 0);
  for (const r of WaitReasons) m.blocked.set({ reason: r }, 0);
  for (const r of ['success', 'drain-aborted', 'timeout']) m.reboots.inc({ result: r }, 0);
  for (const c of ['conflict', 'rejected', 'throttled', 'network']) m.apiErrors.inc({ class: c }, 0);
  for (const w of ['duplicate', 'rate']) m.eventsDropped.inc({ why: w }, 0);
  m.leader.set(0);
  m.halted.set(0);
  return m;
}

export type ControllerMetrics = ReturnType<typeof controllerMetrics>;
