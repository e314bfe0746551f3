// How the controller and the CLI reach the API server: kubectl's kubeconfig handling (kube/kubeconfig.ts, on
// @kubernetes/client-node), with kubectl's flags. The agent does not use this (its chunk stays small).
import { z } from 'zod';
import { ConfigError, type OptionSpecs } from '../config/options.ts';
import type { Connection } from '../kube/connection.ts';
import { loadClientConnection } from '../kube/kubeconfig.ts';

export const clientOptions = {
  kubeconfig: {
    flag: 'kubeconfig',
    help: 'kubeconfig file (default: the files in $KUBECONFIG merged, then in-cluster, then ~/.kube/config)',
    schema: z.string().optional(),
    example: '~/.kube/config',
  },
  context: {
    flag: 'context',
    help: 'the kubeconfig context to use (default: its current-context)',
    schema: z.string().min(1).optional(),
    example: 'prod-westeurope',
  },
  as: {
    flag: 'as',
    help: 'impersonate this user, as kubectl --as',
    schema: z.string().min(1).optional(),
    example: 'jane@example.com',
  },
  asGroup: {
    flag: 'as-group',
    help: 'impersonate these groups (","-separated), as kubectl --as-group',
    schema: z
      .string()
      .default('')
      .transform((s) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      ),
    example: 'kreboot:break-glass',
  },
} satisfies OptionSpecs;

export async function connectClient(o: {
  kubeconfig?: string;
  context?: string;
  as?: string;
  asGroup?: string[];
}): Promise<Connection> {
  try {
    return await loadClientConnection({
      kubeconfig: o.kubeconfig,
      context: o.context,
      as: o.as,
      asGroups: o.asGroup,
    });
  } catch (err) {
    throw new ConfigError([`${o.context ? '--context' : '--kubeconfig'}: ${(err as Error).message}`]);
  }
}
