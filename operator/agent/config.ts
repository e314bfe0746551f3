// `kreboot agent` configuration: flags and KREBOOT_* env vars, one zod schema per option.
import { z } from 'zod';
import { boolString, durationString, type OptionSpecs, type OptionValues } from '../config/options.ts';
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

const absPath = z.string().refine((s) => s.startsWith('/'), 'must be an absolute path');

export const agentOptions = {
  nodeName: {
    flag: 'node-name',
    help: 'this node (set from the downward API: spec.nodeName)',
    schema: z
      .string({ error: 'is required' })
      .regex(
        /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/,
        'must be a Kubernetes node name (lowercase DNS subdomain)',
      ),
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
    schema: z.string().min(1, 'must not be empty').optional(),
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
    schema: z.enum(['command', 'signal'], { error: 'must be "command" or "signal"' }).default('command'),
    example: 'signal',
  },
  rebootCommand: {
    flag: 'reboot-command',
    help: 'the reboot command for --reboot-method=command (default "systemctl reboot")',
    schema: z.string().min(1, 'must not be empty').default('systemctl reboot'),
    example: 'systemctl reboot',
  },
  direct: {
    flag: 'direct',
    help: 'run the sentinel and reboot commands directly, not through nsenter (agent running on the host; tests)',
    schema: boolString.default(false),
    boolean: true,
    example: 'true',
  },
  checkPeriod: {
    flag: 'check-period',
    help: 'how often to check the sentinel besides file-system events (default 1m)',
    schema: durationString
      .default(60_000)
      .pipe(z.number().min(1000, 'must be at least 1s').max(86_400_000, 'must be at most 24h')),
    example: '1m',
  },
  commandTimeout: {
    flag: 'command-timeout',
    help: 'how long a sentinel command may run (default 30s)',
    schema: durationString.default(30_000).pipe(z.number().min(100, 'must be at least 100ms')),
    example: '30s',
  },
  watchSilenceTimeout: {
    flag: 'watch-silence-timeout',
    help: 'relist the node when its watch delivers nothing (not even a bookmark) for this long (default 3m)',
    schema: durationString.default(180_000).pipe(z.number().min(1000, 'must be at least 1s')),
    example: '3m',
  },
  ...commonOptions(9746),
} satisfies OptionSpecs;

export type AgentConfig = OptionValues<typeof agentOptions>;
