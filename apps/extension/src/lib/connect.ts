import { PROVIDER_CAPABILITIES, type RetalkError } from '@retalk/core';
import {
  CONNECT_CODE_PATTERN,
  ConnectClaimSchema,
  type Me,
  relayErrorFromResponse,
} from '@retalk/core/relay';
import { createExtensionError } from './errors.js';
import { t } from './i18n.js';
import { createRelayConnection } from './relay-connection.js';
import {
  claimedConnectCodeItem,
  parseMemberToken,
  parseRelayUrl,
  type Settings,
  settingsItem,
} from './settings.js';
import { formatNumber } from './time-format.js';

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
      t('errors.permissionSave', { host: new URL(settings.relayUrl).host }),
      { field: 'relayUrl' },
    );
  }
  const connection = createRelayConnection(settings, options.fetch ? { fetch: options.fetch } : {});
  const me = await connection.client.me(options.signal ? { signal: options.signal } : {});
  await settingsItem.setValue(settings);
  return me;
}

/** What a connect link (`https://relay/connect#code=rtc_…`) points at. */
export type ConnectLinkTarget = { relayUrl: string; code: string };

/**
 * Reads a connect link the relay made (`retalk-relay members link`, or "Connect another browser"):
 * the relay's address is what comes before `/connect`, the single-use code is in the fragment.
 * Anything else, including a link whose code was cut off, is not one.
 */
export function parseConnectLink(text: string | undefined): ConnectLinkTarget | undefined {
  if (!text) return undefined;
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return undefined;
  }
  if (!/\/connect\/?$/.test(url.pathname)) return undefined;
  const code = new URLSearchParams(url.hash.slice(1)).get('code') ?? '';
  if (!CONNECT_CODE_PATTERN.test(code)) return undefined;
  try {
    const relayUrl = parseRelayUrl(`${url.origin}${url.pathname.replace(/\/connect\/?$/, '')}`);
    return { relayUrl, code };
  } catch {
    return undefined;
  }
}

/**
 * Trades a connect link's code for a token of this browser's own (`POST /v1/connect`), checks
 * it and saves the settings. The relay's answer says why a link no longer works (used, expired).
 */
export async function connectWithLink(
  link: ConnectLinkTarget,
  options: { permissionGranted: boolean; fetch?: typeof fetch; signal?: AbortSignal },
): Promise<Me> {
  const doFetch = options.fetch ?? fetch;
  if (!options.permissionGranted) {
    throw createExtensionError(
      'permission_denied',
      t('errors.permissionLink', { host: new URL(link.relayUrl).host }),
      { field: 'connectLink' },
    );
  }
  let response: Response;
  try {
    response = await doFetch(`${link.relayUrl}/v1/connect`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: link.code }),
      ...(options.signal && { signal: options.signal }),
    });
  } catch (cause) {
    throw createExtensionError(
      'relay_unreachable',
      t('errors.linkUnreachable', { host: new URL(link.relayUrl).host }),
      { field: 'connectLink', cause },
    );
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok)
    throw linkRefusal(relayErrorFromResponse(response.status, body, response.headers.get('retry-after')));
  const claim = ConnectClaimSchema.parse(body);
  // Spent now, so no longer a secret: remembered so the popup stops offering this link.
  await claimedConnectCodeItem.setValue(link.code);
  return testAndSave(
    { relayUrl: link.relayUrl, token: claim.token },
    {
      permissionGranted: true,
      ...(options.fetch && { fetch: options.fetch }),
      ...(options.signal && { signal: options.signal }),
    },
  );
}

/**
 * Why the relay refused a connect link, in the member's language: unknown, used, expired or a
 * revoked member (the relay's codes `not_found`, `link_expired`, `forbidden`); other errors pass.
 */
function linkRefusal(error: RetalkError): Error {
  const code = error.providerCode;
  const text =
    code === 'not_found'
      ? t('errors.linkUnknown')
      : code === 'link_expired'
        ? /used/i.test(error.message)
          ? t('errors.linkUsed')
          : t('errors.linkExpired')
        : code === 'forbidden'
          ? t('errors.linkRevoked')
          : undefined;
  return text === undefined
    ? error
    : createExtensionError('invalid_relay_url', text, { field: 'connectLink', cause: error });
}

/** "420 s of 600 s left this month", or "no limit". */
export function describeBudget(me: Me): string {
  const { budget } = me;
  if (budget.remainingSeconds === null || budget.limitSeconds === null) return t('options.noBudgetLimit');
  const amounts = {
    remaining: t('units.seconds', { n: formatNumber(Math.floor(budget.remainingSeconds)) }),
    limit: t('units.seconds', { n: formatNumber(budget.limitSeconds) }),
  };
  if (budget.period === 'day') return t('options.budgetLeftToday', amounts);
  if (budget.period === 'month') return t('options.budgetLeftMonth', amounts);
  return t('options.budgetLeft', amounts);
}

export function providerName(me: Me): string {
  const name = PROVIDER_CAPABILITIES[me.provider].displayName;
  return me.simulator ? t('options.simulator', { name }) : name;
}
