import type { Me } from '@retalk/core/relay';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { describeBudget, parseConnectionForm, testAndSave } from '../src/lib/connect.js';
import { parseRelayUrl, relayOriginPattern, settingsItem } from '../src/lib/settings.js';

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
