// Where notifications go, and what each receiver is sent. Pure: a target URL (kured's shoutrrr syntax for Slack,
// Teams and generic webhooks, or a plain https:// incoming-webhook address) becomes a Target; a rollout event
// becomes, for each kind of target, the HTTP request its service expects.

export type TargetKind = 'slack-webhook' | 'slack-api' | 'teams' | 'generic';

export interface Target {
  kind: TargetKind;
  /** Where to POST. Holds secrets (webhook tokens): never logged; `label` is what logs and metrics show. */
  url: string;
  /** Bearer token (Slack's API form). */
  token?: string;
  /** Slack channel for the API form. */
  channel?: string;
  /** Safe to log: the service and host, no path or token. */
  label: string;
}

export class TargetError extends Error {}

const safe = (kind: string, host: string) => `${kind} (${host})`;

/**
 * One notification address. Accepted: `slack://…`, `teams://…`, `generic://…`/`generic+http://…` as kured's
 * `--notify-url` (shoutrrr) writes them; `https://hooks.slack.com/…` (a Slack incoming webhook); a Teams incoming
 * webhook or Workflows address (`https://….webhook.office.com/…`, `https://….logic.azure.com/…`,
 * `https://….powerplatform.com/…`); any other `https://` or `http://` address: the generic JSON webhook.
 */
export function parseTarget(raw: string): Target {
  const text = raw.trim();
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new TargetError(
      'not a URL; write e.g. slack://…, teams://…, generic://host/path or https://hooks.slack.com/…',
    );
  }
  switch (u.protocol) {
    case 'slack:': {
      // shoutrrr: slack://xoxb:TOKEN@CHANNEL (the API, a bot token) or slack://[botname@]A/B/C (a webhook's tokens),
      // or slack://hook:A-B-C@webhook.
      if (u.username === 'xoxb' || u.username === 'xoxp') {
        const channel = u.hostname.toUpperCase();
        if (!u.password || !channel)
          throw new TargetError('slack://xoxb:TOKEN@CHANNEL needs a token and a channel');
        return {
          kind: 'slack-api',
          url: 'https://slack.com/api/chat.postMessage',
          token: `${u.username}-${decodeURIComponent(u.password)}`,
          channel,
          label: safe('slack', 'slack.com'),
        };
      }
      const tokens =
        u.username === 'hook'
          ? decodeURIComponent(u.password).split('-')
          : [u.hostname, ...u.pathname.split('/').filter(Boolean)];
      if (tokens.length !== 3 || tokens.some((t) => !/^[A-Za-z0-9]+$/.test(t)))
        throw new TargetError(
          'slack://…: expected a webhook as slack://[botname@]TOKEN-A/TOKEN-B/TOKEN-C or slack://xoxb:TOKEN@CHANNEL',
        );
      return {
        kind: 'slack-webhook',
        url: `https://hooks.slack.com/services/${tokens.join('/')}`,
        label: safe('slack', 'hooks.slack.com'),
      };
    }
    case 'teams:': {
      // shoutrrr: teams://group@tenant/altId/groupOwner?host=org.webhook.office.com
      const host = u.searchParams.get('host');
      const [altId, groupOwner] = u.pathname.split('/').filter(Boolean);
      if (!host || !u.username || !altId || !groupOwner)
        throw new TargetError(
          'teams://GROUP@TENANT/ALTID/GROUPOWNER?host=ORG.webhook.office.com: a part is missing',
        );
      return {
        kind: 'teams',
        url: `https://${host}/webhookb2/${u.username}@${u.hostname}/IncomingWebhook/${altId}/${groupOwner}`,
        label: safe('teams', host),
      };
    }
    case 'generic:':
    case 'generic+http:':
    case 'generic+https:': {
      const scheme = u.protocol === 'generic+http:' ? 'http' : 'https';
      const rest = text.slice(text.indexOf('://') + 3);
      return { kind: 'generic', url: `${scheme}://${rest}`, label: safe('webhook', u.host) };
    }
    case 'https:':
    case 'http:': {
      if (u.hostname === 'hooks.slack.com')
        return { kind: 'slack-webhook', url: text, label: safe('slack', u.host) };
      if (/\.webhook\.office\.com$|\.logic\.azure\.com$|\.powerplatform\.com$/.test(u.hostname))
        return { kind: 'teams', url: text, label: safe('teams', u.host) };
      return { kind: 'generic', url: text, label: safe('webhook', u.host) };
    }
    default:
      throw new TargetError(
        `${u.protocol}// is not supported: kreboot sends to Slack, Microsoft Teams and JSON webhooks (slack://, teams://, generic://, https://)`,
      );
  }
}

/** What happened, for people: one event of a rollout. */
export interface RolloutEvent {
  kind: 'started' | 'rebooted' | 'failed' | 'halted' | 'blocked';
  node?: string;
  /** One sentence. */
  message: string;
  time: number;
  cluster?: string;
}

export interface HttpRequestSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
}

const ICON: Record<RolloutEvent['kind'], string> = {
  started: ':arrows_counterclockwise:',
  rebooted: ':white_check_mark:',
  failed: ':x:',
  halted: ':octagonal_sign:',
  blocked: ':hourglass:',
};

/**
 * The generic webhook's body: the event as JSON, or `template` with {{kind}}, {{node}}, {{message}}, {{time}} and
 * {{cluster}} replaced by their values as JSON strings' contents (so the result stays valid JSON).
 */
export function genericBody(e: RolloutEvent, template?: string): string {
  const fields: Record<string, string> = {
    kind: e.kind,
    node: e.node ?? '',
    message: e.message,
    time: new Date(e.time).toISOString(),
    cluster: e.cluster ?? '',
  };
  if (!template) return JSON.stringify({ ...fields, node: e.node ?? null, cluster: e.cluster ?? null });
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, k: string) =>
    k in fields ? JSON.stringify(fields[k]).slice(1, -1) : m,
  );
}

export function requestFor(t: Target, e: RolloutEvent, template?: string): HttpRequestSpec {
  const json = { 'Content-Type': 'application/json' };
  const text = `${ICON[e.kind]} ${e.cluster ? `[${e.cluster}] ` : ''}${e.message}`;
  switch (t.kind) {
    case 'slack-webhook':
      return { url: t.url, headers: json, body: JSON.stringify({ text }) };
    case 'slack-api':
      return {
        url: t.url,
        headers: { ...json, Authorization: `Bearer ${t.token}` },
        body: JSON.stringify({ channel: t.channel, text }),
      };
    case 'teams':
      // An Adaptive Card in the message envelope both Teams incoming webhooks and Workflows accept.
      return {
        url: t.url,
        headers: json,
        body: JSON.stringify({
          type: 'message',
          attachments: [
            {
              contentType: 'application/vnd.microsoft.card.adaptive',
              content: {
                $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
                type: 'AdaptiveCard',
                version: '1.4',
                body: [
                  {
                    type: 'TextBlock',
                    text: `${e.cluster ? `[${e.cluster}] ` : ''}${e.message}`,
                    wrap: true,
                  },
                ],
              },
            },
          ],
        }),
      };
    case 'generic':
      return { url: t.url, headers: json, body: genericBody(e, template) };
  }
}
