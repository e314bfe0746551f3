// `kreboot completion bash|zsh`: a completion script for the subcommands, each one's flags (from the same option
// specs the commands parse with) and node names for the commands that take them (from kubectl, with the
// --kubeconfig and --context already typed). zsh runs the same function through its bashcompinit layer.
import type { OptionSpecs } from '../config/options.ts';
import { SteerCommands } from './steer-commands.ts';

/** The flags of every command that has option specs; loaded here only (completion is rare, the agent never needs it). */
async function flagsByCommand(): Promise<Record<string, string[]>> {
  const [{ statusOptions }, { steerOptions }, { windowsOptions }, { agentOptions }, { controllerOptions }] =
    await Promise.all([
      import('./status.ts'),
      import('./steer.ts'),
      import('./windows.ts'),
      import('../agent/config.ts'),
      import('../controller/config.ts'),
    ]);
  const flags = (specs: OptionSpecs) => [...Object.values(specs).map((s) => `--${s.flag}`), '--help'];
  const out: Record<string, string[]> = {
    agent: flags(agentOptions),
    controller: flags(controllerOptions),
    status: [...flags(statusOptions), '-o'],
    plan: [...flags(statusOptions), '-o'],
    windows: [...flags(windowsOptions), '-o'],
  };
  for (const c of Object.keys(SteerCommands)) out[c] = flags(steerOptions);
  return out;
}

export function bashScript(commands: string[], flags: Record<string, string[]>): string {
  const nodeCommands = Object.entries(SteerCommands)
    .filter(([, c]) => c.target === 'node')
    .map(([n]) => n);
  const cases = Object.entries(flags)
    .map(([c, f]) => `    ${c}) flags="${f.join(' ')}" ;;`)
    .join('\n');
  return `# kreboot completion (bash; zsh through bashcompinit). Load it with: source <(kreboot completion bash)
_kreboot() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" sub="" flags="" w i
  local -a kube=()
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "${commands.join(' ')}" -- "$cur"))
    return 0
  fi
  sub="\${COMP_WORDS[1]}"
  for ((i = 2; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      --kubeconfig=* | --context=*) kube+=("$w") ;;
      --kubeconfig | --context) kube+=("$w=\${COMP_WORDS[i+1]}") ;;
    esac
  done
  case "$sub" in
${cases}
    completion) COMPREPLY=($(compgen -W "bash zsh" -- "$cur")); return 0 ;;
  esac
  case "$prev" in
    -o | --output) COMPREPLY=($(compgen -W "table json yaml" -- "$cur")); return 0 ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return 0
  fi
  case "$sub" in
    ${nodeCommands.join(' | ')})
      COMPREPLY=($(compgen -W "$(kubectl "\${kube[@]}" get nodes -o jsonpath='{.items[*].metadata.name}' 2>/dev/null)" -- "$cur")) ;;
  esac
  return 0
}
complete -F _kreboot kreboot kubectl-kreboot
`;
}

export async function runCompletion(argv: string[], commands: string[]): Promise<number> {
  const shell = argv[0];
  if (shell !== 'bash' && shell !== 'zsh') {
    process.stderr.write(
      'kreboot completion: name the shell: bash or zsh, e.g. source <(kreboot completion bash)\n',
    );
    return 2;
  }
  const script = bashScript(commands, await flagsByCommand());
  process.stdout.write(
    shell === 'zsh'
      ? `# kreboot completion for zsh. Load it with: source <(kreboot completion zsh)\n(( $+functions[compdef] )) || { autoload -U +X compinit && compinit; }\nautoload -U +X bashcompinit && bashcompinit\n${script}`
      : script,
  );
  return 0;
}
