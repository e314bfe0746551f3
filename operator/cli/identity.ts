// Who the API server says the person is, and the break-glass impersonation: the CLI's writes of keys only the
// controller may change (clear-halt, migrate-kured --apply --adopt) go as the person plus the group kreboot:break-glass.
import type { KubeHttp } from '../kube/http.ts';
import { GROUP } from '../protocol.ts';

/** The group the admission policy lets change the controller's keys, besides the controller itself. */
export const BREAK_GLASS_GROUP = `${GROUP.split('.')[0]}:break-glass`;

export interface Identity {
  user: string;
  groups: string[];
}

/** Who the API server says we are (what it will record as the author of the write). */
export async function whoAmI(http: KubeHttp): Promise<Identity> {
  try {
    const r = await http.request<{ status?: { userInfo?: { username?: string; groups?: string[] } } }>(
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      {
        method: 'POST',
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      },
    );
    return { user: r.status?.userInfo?.username || 'unknown', groups: r.status?.userInfo?.groups ?? [] };
  } catch {
    return { user: 'unknown', groups: [] };
  }
}

/** Impersonation that adds the break-glass group to the caller's own identity (same user, same other groups). */
export function breakGlass(me: Identity): Record<string, string | string[]> {
  const groups = me.groups.filter((g) => g !== 'system:authenticated');
  return { 'Impersonate-User': me.user, 'Impersonate-Group': [...groups, BREAK_GLASS_GROUP] };
}
