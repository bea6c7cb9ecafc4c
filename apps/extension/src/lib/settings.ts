import { storage } from 'wxt/utils/storage';
import { createExtensionError } from './errors.js';
import { t } from './i18n.js';

/** How this browser reaches the team's relay. Only the member token is kept: never a provider key. */
export type Settings = { relayUrl: string; token: string };

export const settingsItem = storage.defineItem<Settings | null>('local:settings', { fallback: null });

/** The code of the connect link this browser last used (single-use, so spent). */
export const claimedConnectCodeItem = storage.defineItem<string | null>('local:claimedConnectCode', {
  fallback: null,
});

/** Validates and normalizes what a member typed as the relay URL (`https://relay.example.com/`). */
export function parseRelayUrl(input: string): string {
  let trimmed = input.trim();
  // "relay.example.com" as people type it: https is what a relay on the internet speaks; one on
  // this machine (the quick start's 127.0.0.1:8787) speaks http.
  if (trimmed !== '' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    const local = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?(\/|$)/i.test(trimmed);
    trimmed = `${local ? 'http' : 'https'}://${trimmed}`;
  }
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch (cause) {
    throw createExtensionError('invalid_relay_url', t('errors.relayUrlNotUrl'), { field: 'relayUrl', cause });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw createExtensionError('invalid_relay_url', t('errors.relayUrlScheme'), {
      field: 'relayUrl',
    });
  }
  if (url.username || url.password) {
    throw createExtensionError('invalid_relay_url', t('errors.relayUrlCredentials'), {
      field: 'relayUrl',
    });
  }
  // A URL copied from an API call ("…/v1/me") still means the relay it points into.
  const path = url.pathname.replace(/\/v1(\/.*)?$/, '').replace(/\/+$/, '');
  return `${url.origin}${path}`;
}

/** Member tokens are issued by the relay as `rtk_` + random characters. */
export function parseMemberToken(input: string): string {
  const token = input.trim();
  if (!/^rtk_[A-Za-z0-9_-]{8,}$/.test(token)) {
    throw createExtensionError('invalid_token', t('errors.tokenShape'), { field: 'token' });
  }
  return token;
}

/** The host-permission pattern for exactly the relay's origin (any path, that scheme, host and port). */
export function relayOriginPattern(relayUrl: string): string {
  const url = new URL(relayUrl);
  // Match patterns cannot carry a port; a host pattern covers every port of that host.
  return `${url.protocol}//${url.hostname}/*`;
}
