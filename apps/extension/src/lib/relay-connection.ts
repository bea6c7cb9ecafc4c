import { createRelayClient, type RelayClient } from '@retalk/core/relay';
import { browser } from 'wxt/browser';
import { createExtensionError } from './errors.js';
import { t } from './i18n.js';
import type { JobFeed } from './job-sync.js';
import { relayOriginPattern, type Settings, settingsItem } from './settings.js';

/** The relay client for the saved settings, plus the job feed the sync logic reads. */
export type RelayConnection = { settings: Settings; client: RelayClient; feed: JobFeed };

export function createRelayConnection(
  settings: Settings,
  options: { fetch?: typeof fetch } = {},
): RelayConnection {
  const client = createRelayClient({
    baseUrl: settings.relayUrl,
    token: settings.token,
    ...(options.fetch && { fetch: options.fetch }),
  });
  const feed: JobFeed = {
    relayUrl: settings.relayUrl,
    getJob: (id, o) => client.getJob(id, o),
    listJobs: async (o = {}) => (await client.listJobs(o)).jobs,
    events: (o) =>
      client.events({
        ...(o.lastEventId != null && { lastEventId: o.lastEventId }),
        ...(o.signal && { signal: o.signal }),
      }),
  };
  return { settings, client, feed };
}

/** The connection for the saved settings, or null when the member has not connected yet. */
export async function loadConnection(): Promise<RelayConnection | null> {
  const settings = await settingsItem.getValue();
  return settings ? createRelayConnection(settings) : null;
}

export async function requireConnection(): Promise<RelayConnection> {
  const connection = await loadConnection();
  if (!connection) {
    throw createExtensionError('not_connected', t('errors.notConnected'));
  }
  return connection;
}

/**
 * Asks for host permission on exactly the relay's origin. Must run inside the click handler,
 * before any `await`, or the browser refuses (permissions.request needs a user gesture).
 */
export function requestRelayPermission(relayUrl: string): Promise<boolean> {
  return browser.permissions.request({ origins: [relayOriginPattern(relayUrl)] });
}

export function hasRelayPermission(relayUrl: string): Promise<boolean> {
  return browser.permissions.contains({ origins: [relayOriginPattern(relayUrl)] });
}
