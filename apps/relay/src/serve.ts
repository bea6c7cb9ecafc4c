import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { acceptsUpload, PROVIDER_CAPABILITIES, type UploadCapability } from '@retalk/core';
import { createSimulator, SIMULATOR_API_KEY } from '@retalk/simulator';
import { buildRelay, type Relay } from './app.js';
import { isLoopbackHost, type RelayConfig } from './config.js';
import { createConnectLink } from './connect-links.js';
import { createMember, demoTokenFile, markSimulatorMember } from './members.js';
import { providersOf } from './pool-media.js';

export interface RunningRelay {
  relay: Relay;
  /** The relay's own URL (what it listens on). */
  url: string;
  /** The demo member's token, when one was created at this start (simulator mode, empty store). */
  demoToken: string | undefined;
  close(): Promise<void>;
}

const BANNER_LINE = '='.repeat(72);

/**
 * Starts a relay as `retalk-relay serve` does: the built-in simulator as upstream when no provider
 * key is configured (with a demo member whose token is printed and written to the data dir), then
 * the HTTP listener.
 */
export async function serveRelay(
  config: RelayConfig,
  options: { logStream?: Writable; print?: (line: string) => void } = {},
): Promise<RunningRelay> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  let simulator: Awaited<ReturnType<typeof createSimulator>> | undefined;
  let upstream: { apiKey: string; baseUrl?: string | undefined; filesBaseUrl?: string | undefined };
  if (config.simulator) {
    simulator = await createSimulator({ host: '127.0.0.1', port: 0, jobMs: config.simulatorJobMs });
    // One origin serves both protocols; each adapter adds its own path (DashScope `/api/v1`).
    upstream = { apiKey: SIMULATOR_API_KEY, baseUrl: simulator.url };
  } else {
    // With an upstreams file RETALK_API_KEY is unset (the file names every key): its first entry
    // stands for the single upstream (without it the relay could not start from a file alone).
    const first = config.upstreams?.[0];
    upstream = first
      ? { apiKey: first.apiKey, baseUrl: first.baseUrl, filesBaseUrl: first.filesBaseUrl }
      : { apiKey: config.apiKey as string, baseUrl: config.baseUrl, filesBaseUrl: config.filesBaseUrl };
  }
  let relay: Relay;
  try {
    relay = await buildRelay({
      config,
      upstream,
      logStream: options.logStream,
      allowedInputHosts: simulator ? [new URL(simulator.url).host] : [],
    });
  } catch (error) {
    await simulator?.close();
    throw error;
  }
  const log = relay.app.log;
  try {
    await relay.app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await relay.close().catch(() => undefined);
    await simulator?.close();
    throw error;
  }
  await relay.start();
  const url = relay.context.publicUrl();
  const metricsWarning = metricsExposureWarning(config);
  if (metricsWarning) log.warn({ host: config.host }, metricsWarning);

  let demoToken: string | undefined;
  if (simulator) {
    log.warn(
      { simulator: simulator.url, protocol: config.provider },
      'SIMULATOR MODE: no RETALK_API_KEY is set, so jobs go to the built-in simulator, not a real provider',
    );
    print(BANNER_LINE);
    print(`  Retalk relay in SIMULATOR MODE (no RETALK_API_KEY): jobs are simulated, nothing is billed.`);
    print(`  Relay URL: ${url}`);
    const tokenFile = demoTokenFile(config.dataDir);
    if ((await relay.context.store.listMembers()).length === 0) {
      const created = await createMember(relay.context.store, { name: 'demo' }, Date.now());
      await markSimulatorMember(relay.context.store, created.member.id);
      demoToken = created.token;
      fs.writeFileSync(tokenFile, `${created.token}\n`, { mode: 0o600 });
      // Shown this once (findings L12: reprinted on every start, it piled up in logs).
      print(`  Member token (paste it into the extension): ${created.token}`);
      print(`  (also written to ${tokenFile}, readable by you only)`);
    } else if (fs.existsSync(tokenFile)) {
      print(`  Member token: in ${tokenFile} (printed only when it was created)`);
    }
    const demo = await relay.context.store.getMemberByName('demo');
    if (demo && demo.revokedAt === null) {
      // A fresh single-use link each start: nothing reusable piles up in logs (findings L12).
      const link = await createConnectLink(relay.context.store, demo, { publicUrl: url, now: Date.now() });
      print(`  Connect a browser in one click: open ${link.url}`);
      print('    (then click Retalk in the toolbar → Connect this browser; works once, for 30 minutes)');
    }
    // Started from the repository (the README's quick start): point at the extension build too.
    const extensionDir = path.resolve('apps/extension/.output/chrome-mv3');
    if (fs.existsSync(path.join(extensionDir, 'manifest.json'))) {
      print(`  Browser extension: load ${extensionDir}`);
      print('    (chrome://extensions → Developer mode → Load unpacked; then open the connect link above)');
    }
    print(BANNER_LINE);
  } else {
    log.info({ provider: config.provider, providers: providersOf(config), url }, 'relay started');
    warnAboutRoutes(config, (msg) => log.warn(msg));
  }

  return {
    relay,
    url,
    demoToken,
    async close() {
      await relay.close();
      await simulator?.close();
    },
  };
}

/**
 * Waits for SIGINT or SIGTERM, then stops the relay: requests drain, jobs stay resumable, and
 * requests still open after `RETALK_SHUTDOWN_GRACE_MS` are cut, so a stalled client (a dripping
 * upload) cannot hold the shutdown past a supervisor's SIGKILL (Docker waits 10 s) and the store
 * closes cleanly. Resolves the process's exit code. `retalk-relay serve` and `main.js` both stop here.
 */
export function stopOnSignal(running: RunningRelay, config: RelayConfig): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      // A second signal while draining changes nothing: the grace period already bounds the stop.
      if (stopping) return;
      stopping = true;
      const log = running.relay.app.log;
      log.info({ signal }, 'stopping: draining requests, jobs stay resumable');
      const cut = setTimeout(() => {
        log.warn(
          { afterMs: config.shutdownGraceMs },
          'stopping: requests still open after the grace period are cut',
        );
        running.relay.app.server.closeAllConnections();
      }, config.shutdownGraceMs);
      cut.unref();
      running.close().then(
        () => resolve(0),
        (error: unknown) => {
          log.error({ err: error }, 'stopping: the relay did not close cleanly');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/**
 * Without RETALK_METRICS_TOKEN, `/metrics` is open; that is only harmless on a loopback listener.
 * Returns the start-up warning for any other listen address, else undefined.
 */
export function metricsExposureWarning(
  config: Pick<RelayConfig, 'host' | 'metricsToken'>,
): string | undefined {
  if (config.metricsToken || isLoopbackHost(config.host)) return undefined;
  return `/metrics is open to anyone who can reach ${config.host}: set RETALK_METRICS_TOKEN (at least 24 characters) and give it to your scraper, or listen on 127.0.0.1 behind a proxy.`;
}

/** The provider must fetch uploads from RETALK_PUBLIC_URL; say so when that cannot work. */
function warnAboutRoutes(config: RelayConfig, warn: (message: string) => void): void {
  // A mixed pool: every provider's storage must take video and audio for relay links to be unneeded.
  const capabilities = providersOf(config).map((p) => PROVIDER_CAPABILITIES[p]);
  const takesMedia = (upload: UploadCapability) =>
    acceptsUpload(upload, 'video/mp4') && acceptsUpload(upload, 'audio/wav');
  if (config.inputRoute === 'provider') {
    for (const { displayName, upload } of capabilities) {
      warn(
        takesMedia(upload)
          ? `RETALK_INPUT_ROUTE=provider: uploads go to ${displayName}'s own storage (${Math.round(upload.ttlMs / 3_600_000)} h; DashScope's is meant for testing by Alibaba).`
          : `RETALK_INPUT_ROUTE=provider: ${displayName}'s storage takes ${upload.mimeTypes.join(', ')} only, so only reference images go there; video and audio still need RETALK_PUBLIC_URL${capabilities.length > 1 ? `, and without it jobs with uploaded video or audio go only to the other providers' upstreams` : ''}.`,
      );
    }
    if (capabilities.every((c) => takesMedia(c.upload))) return;
  }
  if (!config.publicUrl) {
    warn(
      'RETALK_PUBLIC_URL is not set: the provider cannot fetch uploaded files from this relay. Set it to the public https address of the relay.',
    );
    return;
  }
  const host = new URL(config.publicUrl).hostname;
  if (/^(localhost|127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|\[?::1\]?$)/.test(host)) {
    warn(
      `RETALK_PUBLIC_URL (${config.publicUrl}) is not publicly reachable; the provider will fail to fetch uploaded files.`,
    );
  }
  if (!config.publicUrl.startsWith('https://')) {
    warn(
      `RETALK_PUBLIC_URL is not https: ${capabilities
        .filter((c) => c.callbacks)
        .map((c) => `${c.displayName} callbacks are off and `)
        .join('')}file links travel unencrypted. Put TLS in front of the relay.`,
    );
  }
}
