import type { Client } from '@retalk/core';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Archiver } from './archive.js';
import type { RelayConfig } from './config.js';
import type { ConformPool } from './conform-pool.js';
import type { EventBus } from './event-bus.js';
import type { JobWriter } from './jobs.js';
import type { Metrics } from './metrics.js';
import type { Preparer } from './preparer.js';
import type { RateLimiter } from './rate-limit.js';
import type { UrlSigner } from './signing.js';
import type { FileStorage } from './storage/local.js';
import type { MemberRecord, RelayStore } from './store/types.js';
import type { Tracker } from './tracker.js';
import type { UpstreamPool } from './upstream-pool.js';

export const RELAY_VERSION = '0.1.0';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in member: set before the handler by the member routes' scope (see app.ts). */
    member?: MemberRecord | undefined;
  }
}

/** The member a request in the member routes' scope signed in as. */
export function signedInMember(request: FastifyRequest): MemberRecord {
  if (!request.member) throw new Error('signedInMember() called outside the member routes');
  return request.member;
}

/** What routes share. */
export interface RelayContext {
  config: RelayConfig;
  store: RelayStore;
  storage: FileStorage;
  writer: JobWriter;
  tracker: Tracker;
  archiver: Archiver;
  /** Child processes that probe and conform media off the event loop. */
  pool: ConformPool;
  /** The `preparing` phase: fetches URL inputs once, conforms them, reserves the conformed length. */
  preparer: Preparer;
  bus: EventBus;
  metrics: Metrics;
  signer: UrlSigner;
  /** The default upstream's client (capabilities shown to members). */
  client: Client;
  /** Every upstream, with its health and load. */
  upstreams: UpstreamPool;
  now: () => number;
  log: FastifyBaseLogger;
  memberLimiter: RateLimiter;
  authFailureLimiter: RateLimiter;
  allowedInputHosts: readonly string[];
  /** fetch for URLs the relay follows itself: each hop (redirects too) passes the URL guard. */
  guardedFetch: typeof fetch;
  heartbeatMs: number;
  /** Enders of open SSE streams (closed before the server, which would otherwise wait for them). */
  openStreams: Set<() => void>;
  /** The same enders by member, oldest first (revocation and the per-member cap end them). */
  memberStreams: Map<string, Set<() => void>>;
  /** Public origin of this relay (config, else the address it listens on). */
  publicUrl(): string;
}
