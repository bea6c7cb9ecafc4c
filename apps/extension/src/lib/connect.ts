import { PROVIDER_CAPABILITIES } from '@retalk/core';
import type { Me } from '@retalk/core/relay';
import { createExtensionError } from './errors.js';
import { createRelayConnection } from './relay-connection.js';
import { parseMemberToken, parseRelayUrl, type Settings, settingsItem } from './settings.js';

/** Reads the form, or throws an ExtensionError naming the field at fault. */
export function parseConnectionForm(form: { relayUrl: string; token: string }): Settings {
  return { relayUrl: parseRelayUrl(form.relayUrl), token: parseMemberToken(form.token) };
}

/**
 * Checks the relay answers with this token (`GET /v1/me`), then saves the settings. Nothing is
 * saved when the test fails, so a typo never replaces a working connection.
 */
export async function testAndSave(
  settings: Settings,
  options: { permissionGranted: boolean; fetch?: typeof fetch; signal?: AbortSignal },
): Promise<Me> {
  if (!options.permissionGranted) {
    throw createExtensionError(
      'permission_denied',
      `The browser did not allow access to ${new URL(settings.relayUrl).host}. Click “Save and test” again and choose Allow.`,
      { field: 'relayUrl' },
    );
  }
  const connection = createRelayConnection(settings, options.fetch ? { fetch: options.fetch } : {});
  const me = await connection.client.me(options.signal ? { signal: options.signal } : {});
  await settingsItem.setValue(settings);
  return me;
}

/** "420 s of 600 s left this month", or "no limit". */
export function describeBudget(me: Me): string {
  const { budget } = me;
  if (budget.remainingSeconds === null || budget.limitSeconds === null) return 'No budget limit';
  const period = budget.period === 'day' ? 'today' : budget.period === 'month' ? 'this month' : '';
  return `${Math.floor(budget.remainingSeconds)} s of ${budget.limitSeconds} s left ${period}`.trim();
}

export function providerName(me: Me): string {
  const name = PROVIDER_CAPABILITIES[me.provider].displayName;
  return me.simulator ? `${name} — offline simulator` : name;
}
