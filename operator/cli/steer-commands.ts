// The names and one-line summaries of the SRE's write commands, apart from their code: the CLI's command table
// (main.ts, shared with the agent's entry) imports this without pulling in anything else.
export const SteerCommands = {
  pause: { target: 'lock', summary: 'stop new reboots (nodes in progress finish); --reason required' },
  resume: { target: 'lock', summary: 'let new reboots start again after a pause' },
  request: { target: 'node', summary: 'ask for a reboot of NODE… without a sentinel file' },
  cancel: { target: 'node', summary: 'withdraw a reboot request made with `request`' },
  exclude: { target: 'node', summary: 'never reboot NODE… until `include`' },
  include: { target: 'node', summary: 'undo `exclude`' },
  'clear-halt': {
    target: 'lock',
    summary: 'let the rollout go on after a node did not come back (shows why it halted first)',
  },
} as const;
export type SteerCommand = keyof typeof SteerCommands;
export const isSteerCommand = (s: string): s is SteerCommand => Object.hasOwn(SteerCommands, s);
