// The `kreboot` commands: one subcommand per component (also usable as `kubectl kreboot`), each loaded on demand.
// Entry points: main.ts (the bundle, `node dist/kreboot.mjs`) and sea-main.ts (the single executable).
import module from 'node:module';
import { ConfigError } from '../config/options.ts';
import { VERSION } from '../version.ts';
import { type SteerCommand, SteerCommands } from './steer-commands.ts';

interface Command {
  summary: string;
  /** Resolves with the process exit code. */
  run?: (argv: string[]) => Promise<number>;
  /** Where a command is not built yet: the issue that brings it. */
  pending?: string;
}

const commands: Record<string, Command> = {
  agent: {
    summary: 'per-node agent: report that this node needs a reboot, reboot it on approval',
    // Loaded on demand: each command pulls in only its own code (the agent's memory budget).
    run: async (argv) => (await import('../agent/main.ts')).runAgent(argv),
  },
  controller: {
    summary: 'leader-elected controller: lock, gates, cordon, drain, approve, verify',
    run: async (argv) => (await import('../controller/main.ts')).runController(argv),
  },
  status: {
    summary: 'what is pending, in progress and blocked',
    run: async (argv) => (await import('./status.ts')).runStatus('status', argv),
  },
  plan: {
    summary: 'what would happen next, and why each waiting node waits',
    run: async (argv) => (await import('./status.ts')).runStatus('plan', argv),
  },
  windows: {
    summary: 'each MaintenanceWindow with its next open intervals, in its zone and in UTC (--next N)',
    run: async (argv) => (await import('./windows.ts')).runWindows(argv),
  },
  // The SRE's write commands: one annotation of the protocol each, idempotent, attributed in an Event.
  ...Object.fromEntries(
    Object.entries(SteerCommands).map(([name, c]) => [
      name,
      {
        summary: c.summary,
        run: async (argv: string[]) => (await import('./steer.ts')).runSteer(name as SteerCommand, argv),
      },
    ]),
  ),
  'migrate-kured': {
    summary:
      "kured's configuration as kreboot's: Helm values or a kustomize overlay, and MaintenanceWindows (-f FILE)",
    run: async (argv) => (await import('./migrate-kured.ts')).runMigrateKured(argv),
  },
  completion: {
    summary: 'print a shell completion script: source <(kreboot completion bash|zsh)',
    run: async (argv) => (await import('./completion.ts')).runCompletion(argv, Object.keys(commands)),
  },
  version: {
    summary: 'print the version',
    run: async () => {
      process.stdout.write(`kreboot ${VERSION}\n`);
      return 0;
    },
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length)) + 2;
  const rows = Object.entries(commands).map(
    ([name, c]) =>
      `  ${name.padEnd(width)}${c.summary}${c.pending ? ` (not built yet: issue ${c.pending})` : ''}`,
  );
  return `Usage: kreboot <command> [flags]\n\nCommands:\n${rows.join('\n')}\n\nRun 'kreboot <command> --help' for a command's flags.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') return commands.version!.run!([]);
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`kreboot: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (!cmd.run) {
    process.stderr.write(
      `kreboot ${name}: not built yet in ${VERSION}; it lands with issue ${cmd.pending}.\n`,
    );
    return 3;
  }
  // A person's commands (not the long-running agent and controller, whose start is paid once and whose file
  // system may be read-only): V8's compiled code is kept on disk (Node's module compile cache, in the OS temp
  // directory), so the second and later runs skip compiling the bundle's chunks (BENCHMARKS.md, the CLI's start).
  if (name !== 'agent' && name !== 'controller' && !process.env.NODE_DISABLE_COMPILE_CACHE)
    module.enableCompileCache?.();
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`kreboot ${name}: ${err.message}\n`);
      return err.exitCode;
    }
    // Anything else (credentials that failed, an API server that refused): one line saying what, not a stack
    // trace through minified code. KREBOOT_DEBUG=1 shows the stack.
    const e = err as Error;
    process.stderr.write(
      `kreboot ${name}: ${process.env.KREBOOT_DEBUG ? (e.stack ?? e.message) : e.message}\n`,
    );
    return 1;
  }
}
