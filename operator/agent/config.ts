// `kreboot agent` configuration: flags and KREBOOT_* env vars, one parser per option (flags.ts: no zod on nodes).
import { bool, duration, oneOf, text } from '../config/flags.ts';
import type { OptionSpecs, OptionValues } from '../config/options.ts';
import { commonOptions } from '../runtime/command-runtime.ts';

/**
 * The DaemonSet mounts the host's /var/run read-only here (deploy/ uses this same constant), so the default
 * sentinel path and the mount cannot drift apart (kured #952).
 */
export const HOST_RUN_MOUNT = '/host/var/run';
export const DEFAULT_SENTINEL_FILE = `${HOST_RUN_MOUNT}/reboot-required`;
export const DEFAULT_BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/**
 * V8 flags the agent runs with (DaemonSet, benches, tests): no optimizing compiler and a small young generation.
 * The agent is idle I/O; these cut ~10 MB of RSS on every node for no measurable cost (BENCHMARKS.md).
 */
export const AGENT_NODE_FLAGS = ['--lite-mode', '--max-semi-space-size=1'] as const;

const absPath = text().check((s) => s.startsWith('/'), 'must be an absolute path');

export const agentOptions = {
  nodeName: {
    flag: 'node-name',
    help: 'this node (set from the downward API: spec.nodeName)',
    schema: text({
      pattern: /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/,
      message: 'must be a Kubernetes node name (lowercase DNS subdomain)',
    }),
    example: 'worker-1',
  },
  sentinelFile: {
    flag: 'sentinel-file',
    help: `file whose presence means "reboot required" (default ${DEFAULT_SENTINEL_FILE}, the DaemonSet's mount of the host's /var/run)`,
    schema: absPath.default(DEFAULT_SENTINEL_FILE),
    example: DEFAULT_SENTINEL_FILE,
  },
  sentinelCommand: {
    flag: 'sentinel-command',
    help: 'instead of the file: a shell command run in the host namespaces; exit 0 = reboot required, 1 = not',
    schema: text().optional(),
    example: 'needs-restarting -r',
  },
  bootIdFile: {
    flag: 'boot-id-file',
    help: `where to read this boot's ID (default ${DEFAULT_BOOT_ID_FILE})`,
    schema: absPath.default(DEFAULT_BOOT_ID_FILE),
    example: DEFAULT_BOOT_ID_FILE,
  },
  rebootMethod: {
    flag: 'reboot-method',
    help: 'command (run --reboot-command through nsenter; privileged pod) or signal (SIGRTMIN+5 to PID 1; hostPID only)',
    schema: oneOf(['command', 'signal'], 'must be "command" or "signal"').default('command'),
    example: 'signal',
  },
  rebootCommand: {
    flag: 'reboot-command',
    help: 'the reboot command for --reboot-method=command (default "systemctl reboot")',
    schema: text().default('systemctl reboot'),
    example: 'systemctl reboot',
  },
  direct: {
    flag: 'direct',
    help: 'run the sentinel and reboot commands directly, not through nsenter (agent running on the host; tests)',
    schema: bool().default(false),
    boolean: true,
    example: 'true',
  },
  checkPeriod: {
    flag: 'check-period',
    help: 'how often to check the sentinel besides file-system events (default 1m)',
    schema: duration({ min: 1000, max: 86_400_000 }).default(60_000),
    example: '1m',
  },
  commandTimeout: {
    flag: 'command-timeout',
    help: 'how long a sentinel command may run (default 30s)',
    schema: duration({ min: 100 }).default(30_000),
    example: '30s',
  },
  watchSilenceTimeout: {
    flag: 'watch-silence-timeout',
    help: 'relist the node when its watch delivers nothing (not even a bookmark) for this long (default 3m)',
    schema: duration({ min: 1000 }).default(180_000),
    example: '3m',
  },
  memoryTrimAfter: {
    flag: 'memory-trim-after',
    help: 'hand the start-up pages of the executable back to the kernel once the agent has been ready this long, and keep huge pages off; 0 = neither (default 10s)',
    schema: duration({ max: 3_600_000 }).default(10_000),
    example: '10s',
  },
  ...commonOptions(9746),
} satisfies OptionSpecs;

export type AgentConfig = OptionValues<typeof agentOptions>;
