// Notification targets: kured's shoutrrr URLs and plain webhook addresses, and what each service is sent.
import { describe, expect, it } from 'vitest';
import {
  genericBody,
  parseTarget,
  requestFor,
  TargetError,
} from '../../operator/controller/notify/targets.ts';

const event = {
  kind: 'rebooted' as const,
  node: 'node-1',
  message: 'Node node-1 rebooted into boot b2; uncordoned',
  time: Date.parse('2026-12-06T07:00:00Z'),
  cluster: 'prod-eu-1',
};

describe('notification targets', () => {
  it("reads kured's shoutrrr URLs and plain webhook addresses", () => {
    expect(parseTarget('slack://kured@T000/B000/XXXX')).toMatchObject({
      kind: 'slack-webhook',
      url: 'https://hooks.slack.com/services/T000/B000/XXXX',
      label: 'slack (hooks.slack.com)',
    });
    expect(parseTarget('slack://hook:T000-B000-XXXX@webhook').url).toBe(
      'https://hooks.slack.com/services/T000/B000/XXXX',
    );
    expect(parseTarget('slack://xoxb:1234-5678-abcd@C0123')).toMatchObject({
      kind: 'slack-api',
      url: 'https://slack.com/api/chat.postMessage',
      token: 'xoxb-1234-5678-abcd',
      channel: 'C0123',
    });
    expect(parseTarget('teams://g1@t1/alt1/owner1?host=contoso.webhook.office.com')).toMatchObject({
      kind: 'teams',
      url: 'https://contoso.webhook.office.com/webhookb2/g1@t1/IncomingWebhook/alt1/owner1',
    });
    expect(parseTarget('https://prod-01.westeurope.logic.azure.com/workflows/abc/triggers/manual').kind).toBe(
      'teams',
    );
    expect(parseTarget('generic+http://127.0.0.1:8080/hook?x=1')).toMatchObject({
      kind: 'generic',
      url: 'http://127.0.0.1:8080/hook?x=1',
      label: 'webhook (127.0.0.1:8080)',
    });
    expect(parseTarget('generic://alerts.example.com/kreboot').url).toBe(
      'https://alerts.example.com/kreboot',
    );
    expect(parseTarget('https://hooks.example.com/x').kind).toBe('generic');
  });

  it('refuses what it cannot send to, without repeating the secret', () => {
    for (const bad of [
      'not a url',
      'telegram://token@telegram?chats=1',
      'slack://only-one-part',
      'teams://g@t/a',
    ]) {
      let err: unknown;
      try {
        parseTarget(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(TargetError);
      expect((err as Error).message).not.toContain('only-one-part');
    }
    expect(() => parseTarget('telegram://x@telegram')).toThrow(/Slack, Microsoft Teams and JSON webhooks/);
  });

  it('sends each service its own shape', () => {
    const slack = requestFor(parseTarget('https://hooks.slack.com/services/T/B/X'), event);
    expect(JSON.parse(slack.body)).toEqual({
      text: ':white_check_mark: [prod-eu-1] Node node-1 rebooted into boot b2; uncordoned',
    });
    const api = requestFor(parseTarget('slack://xoxb:1-2-3@C9'), event);
    expect(api.headers.Authorization).toBe('Bearer xoxb-1-2-3');
    expect(JSON.parse(api.body).channel).toBe('C9');
    const teams = JSON.parse(
      requestFor(parseTarget('teams://g@t/a/o?host=x.webhook.office.com'), event).body,
    );
    expect(teams.type).toBe('message');
    expect(teams.attachments[0].content.body[0].text).toBe(
      '[prod-eu-1] Node node-1 rebooted into boot b2; uncordoned',
    );
    expect(JSON.parse(requestFor(parseTarget('https://h.example/x'), event).body)).toEqual({
      kind: 'rebooted',
      node: 'node-1',
      message: event.message,
      time: '2026-12-06T07:00:00.000Z',
      cluster: 'prod-eu-1',
    });
  });

  it('the generic template stays valid JSON whatever the message holds', () => {
    const tricky = { ...event, message: 'quote " backslash \\ newline \n tab \t end' };
    const body = genericBody(tricky, '{"text":"{{message}}","who":"{{ node }}","unknown":"{{nope}}"}');
    expect(JSON.parse(body)).toEqual({ text: tricky.message, who: 'node-1', unknown: '{{nope}}' });
  });
});
