import type { Me } from '@retalk/core/relay';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import {
  connectWithLink,
  describeBudget,
  parseConnectionForm,
  parseConnectLink,
  testAndSave,
} from '../src/lib/connect.js';
import { toErrorMessage } from '../src/lib/errors.js';
import {
  claimedConnectCodeItem,
  parseRelayUrl,
  relayOriginPattern,
  settingsItem,
} from '../src/lib/settings.js';

const ME: Me = {
  member: { id: 'm1', name: 'Alice', createdAt: '2026-01-01T00:00:00.000Z', maxConcurrentJobs: null },
  budget: {
    period: 'month',
    limitSeconds: 600,
    usedSeconds: 100,
    reservedSeconds: 20,
    remainingSeconds: 480,
  },
  provider: 'dashscope',
  simulator: true,
  activeJobs: 0,
  limits: { video: {}, audio: {}, image: {} },
  uploadMaxBytes: { video: 1, audio: 1, image: 1 },
  canCancel: true,
  relayVersion: '0.1.0',
};

describe('connection settings', () => {
  beforeEach(() => {
    fakeBrowser.reset();
  });

  it('normalizes the relay URL and asks host permission for that origin only', () => {
    expect(parseRelayUrl(' https://relay.example.com/ ')).toBe('https://relay.example.com');
    expect(parseRelayUrl('http://127.0.0.1:8787')).toBe('http://127.0.0.1:8787');
    expect(relayOriginPattern('http://127.0.0.1:8787')).toBe('http://127.0.0.1/*');
    expect(relayOriginPattern('https://relay.example.com/team')).toBe('https://relay.example.com/*');
  });

  it('takes the relay address as people type or copy it (finding 10)', () => {
    expect(parseRelayUrl('relay.example.com')).toBe('https://relay.example.com');
    expect(parseRelayUrl('relay.example.com/team/')).toBe('https://relay.example.com/team');
    expect(parseRelayUrl('127.0.0.1:8787')).toBe('http://127.0.0.1:8787');
    expect(parseRelayUrl('localhost:8787')).toBe('http://localhost:8787');
    expect(parseRelayUrl('https://relay.example.com/v1/')).toBe('https://relay.example.com');
    expect(parseRelayUrl('http://127.0.0.1:8787/v1/me')).toBe('http://127.0.0.1:8787');
  });

  it('explains relay problems in plain words instead of HTTP (finding 10)', () => {
    const network = Object.assign(
      new Error('GET /v1/me could not reach the relay; check the relay URL and that it is running'),
      { code: 'network' },
    );
    expect(toErrorMessage(network)).toBe(
      'Cannot reach the relay. Check its address and that it is running, then try again.',
    );
    const notRelay = Object.assign(new Error('The relay answered HTTP 404 with a body that is not JSON'), {
      code: 'response_validation',
    });
    expect(toErrorMessage(notRelay)).toContain('not as a Retalk relay');
    const header = Object.assign(
      new Error(
        'The Authorization header is not "Bearer rtk_…" with a valid member token; copy the token again.',
      ),
      { code: 'auth' },
    );
    expect(toErrorMessage(header)).not.toMatch(/Authorization|Bearer|HTTP|GET /);
    expect(toErrorMessage(header)).toContain('does not accept this token');
    const revoked = Object.assign(new Error('This member token was revoked; ask your relay admin.'), {
      code: 'auth',
    });
    expect(toErrorMessage(revoked)).toContain('revoked');
    // The relay's own codes read in the member's language, also once they crossed a message port
    // as plain data; a message without a known code is shown as it is.
    expect(toErrorMessage({ code: 'budget_exceeded', message: 'Only 4 s of budget left.' })).toBe(
      'Your budget on this relay is used up for now. Use a shorter audio, or ask your relay admin for more.',
    );
    expect(toErrorMessage({ code: 'quota', providerCode: 'too_many_jobs', message: 'Max 2.' })).toContain(
      'as many jobs running as this relay allows',
    );
    expect(
      toErrorMessage({ code: 'invalid_request', providerCode: 'media_rejected', message: 'fps 10' }),
    ).toBe('The relay refused this file: fps 10');
    expect(toErrorMessage({ code: 'something_new', message: 'A plain sentence.' })).toBe('A plain sentence.');
  });

  it('refuses a relay URL that is not http(s), naming the field', () => {
    expect(() => parseConnectionForm({ relayUrl: 'ftp://relay', token: 'rtk_abcdefgh12' })).toThrow(
      expect.objectContaining({ code: 'invalid_relay_url', field: 'relayUrl' }),
    );
    expect(() => parseConnectionForm({ relayUrl: 'relay example', token: 'rtk_abcdefgh12' })).toThrow(
      expect.objectContaining({ code: 'invalid_relay_url' }),
    );
  });

  it('refuses anything but a member token, so no provider key can be stored', () => {
    expect(() =>
      parseConnectionForm({ relayUrl: 'https://r.example.com', token: 'sk-provider-key-123' }),
    ).toThrow(expect.objectContaining({ code: 'invalid_token', field: 'token' }));
  });

  it('saves the settings only after the relay accepted the token', async () => {
    const fetchOk = vi.fn(async () => Response.json(ME));
    const settings = parseConnectionForm({ relayUrl: 'http://127.0.0.1:8787', token: 'rtk_goodtoken1' });
    const me = await testAndSave(settings, { permissionGranted: true, fetch: fetchOk as typeof fetch });
    expect(me.member.name).toBe('Alice');
    expect(await settingsItem.getValue()).toEqual(settings);
  });

  it('keeps the previous settings when the test fails', async () => {
    const previous = { relayUrl: 'http://127.0.0.1:8787', token: 'rtk_previous123' };
    await settingsItem.setValue(previous);
    const unauthorized = vi.fn(async () =>
      Response.json(
        { error: { code: 'unauthorized', message: 'Unknown or revoked token.' } },
        { status: 401 },
      ),
    );
    const settings = parseConnectionForm({ relayUrl: 'http://127.0.0.1:8787', token: 'rtk_wrongtoken1' });
    await expect(
      testAndSave(settings, { permissionGranted: true, fetch: unauthorized as typeof fetch }),
    ).rejects.toThrow('Unknown or revoked token.');
    await expect(testAndSave(settings, { permissionGranted: false })).rejects.toMatchObject({
      code: 'permission_denied',
    });
    expect(await settingsItem.getValue()).toEqual(previous);
  });

  it('describes the budget left in the period', () => {
    expect(describeBudget(ME)).toBe('480 s of 600 s left this month');
    expect(
      describeBudget({ ...ME, budget: { ...ME.budget, limitSeconds: null, remainingSeconds: null } }),
    ).toBe('No budget limit');
  });
});

describe('connect links', () => {
  const CODE = `rtc_${'Ab3_-'.repeat(6)}xy`;

  beforeEach(() => {
    fakeBrowser.reset();
  });

  it('reads the relay address and the code of a whole link, and nothing else', () => {
    expect(parseConnectLink(`http://127.0.0.1:8787/connect#code=${CODE}`)).toEqual({
      relayUrl: 'http://127.0.0.1:8787',
      code: CODE,
    });
    expect(parseConnectLink(` https://relay.example.com/team/connect/#code=${CODE} `)).toEqual({
      relayUrl: 'https://relay.example.com/team',
      code: CODE,
    });
    // Cut off, another page, a token instead of a code, not a URL.
    expect(parseConnectLink(`http://127.0.0.1:8787/connect#code=${CODE.slice(0, 20)}`)).toBeUndefined();
    expect(parseConnectLink(`http://127.0.0.1:8787/jobs#code=${CODE}`)).toBeUndefined();
    expect(parseConnectLink('http://127.0.0.1:8787/connect#code=rtk_abcdefgh12')).toBeUndefined();
    expect(parseConnectLink(`ftp://relay/connect#code=${CODE}`)).toBeUndefined();
    expect(parseConnectLink('not a link')).toBeUndefined();
    expect(parseConnectLink(undefined)).toBeUndefined();
  });

  it('trades the code for a token, checks it, saves it and remembers the spent code', async () => {
    const calls: { url: string; body: unknown }[] = [];
    const relay = vi.fn(async (url: string, init?: RequestInit) => {
      calls.push({ url, body: init?.body ? JSON.parse(String(init.body)) : undefined });
      if (url.endsWith('/v1/connect')) {
        return Response.json(
          { token: 'rtk_browsertoken1', member: { id: 'm1', name: 'Alice' } },
          { status: 201 },
        );
      }
      return Response.json(ME);
    });
    const link = { relayUrl: 'http://127.0.0.1:8787', code: CODE };
    const me = await connectWithLink(link, { permissionGranted: true, fetch: relay as typeof fetch });
    expect(me.member.name).toBe('Alice');
    expect(calls[0]).toEqual({ url: 'http://127.0.0.1:8787/v1/connect', body: { code: CODE } });
    expect(await settingsItem.getValue()).toEqual({ relayUrl: link.relayUrl, token: 'rtk_browsertoken1' });
    expect(await claimedConnectCodeItem.getValue()).toBe(CODE);
  });

  it("shows the relay's reason when a link no longer works, and keeps the previous settings", async () => {
    const previous = { relayUrl: 'http://127.0.0.1:8787', token: 'rtk_previous123' };
    await settingsItem.setValue(previous);
    const used = vi.fn(async () =>
      Response.json(
        { error: { code: 'link_expired', message: 'This connect link was used already.', field: 'code' } },
        { status: 410 },
      ),
    );
    const link = { relayUrl: 'http://127.0.0.1:8787', code: CODE };
    await expect(
      connectWithLink(link, { permissionGranted: true, fetch: used as typeof fetch }),
    ).rejects.toMatchObject({
      field: 'connectLink',
      message:
        'This connect link was used already (each works for one browser). Ask whoever sent it for a new one.',
    });
    await expect(connectWithLink(link, { permissionGranted: false })).rejects.toMatchObject({
      code: 'permission_denied',
    });
    const down = vi.fn(async () => {
      throw new TypeError('fetch failed');
    });
    await expect(
      connectWithLink(link, { permissionGranted: true, fetch: down as typeof fetch }),
    ).rejects.toMatchObject({
      code: 'relay_unreachable',
    });
    expect(await settingsItem.getValue()).toEqual(previous);
    expect(await claimedConnectCodeItem.getValue()).toBeNull();
  });
});
