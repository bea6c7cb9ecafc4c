import {
  checkMedia,
  type MediaMeta,
  type MediaProblem,
  PROVIDER_CAPABILITIES,
  type Provider,
  type ProviderMediaLimits,
  strictestMediaLimits,
} from '@retalk/core';
import type { RelayConfig } from './config.js';

/**
 * Every provider of the relay's upstreams, the first upstream's first (the one `config.provider`
 * names). A pool may mix DashScope accounts and EvoLink keys.
 */
export function providersOf(config: Pick<RelayConfig, 'provider' | 'upstreams'>): Provider[] {
  return [...new Set([config.provider, ...(config.upstreams ?? []).map((u) => u.provider)])];
}

const limitsByConfig = new WeakMap<object, ProviderMediaLimits>();

/**
 * The media limits jobs are checked and conformed against: with one provider its own; with a mixed
 * pool the strictest of each limit, what every provider of the pool accepts. Conforming happens
 * before placement (the `preparing` phase runs while the job waits for a free account), and a job
 * waiting for an upstream may go to another provider when its own becomes unhealthy, so the file
 * must fit wherever it lands; placing first and conforming per provider would hold a slot idle
 * while the conform runs and would have to conform again on failover.
 */
export function mediaLimitsOf(config: Pick<RelayConfig, 'provider' | 'upstreams'>): ProviderMediaLimits {
  let limits = limitsByConfig.get(config);
  if (!limits) {
    limits = strictestMediaLimits(providersOf(config));
    limitsByConfig.set(config, limits);
  }
  return limits;
}

/** Who accepts the limits in force, for messages ("DashScope (Alibaba) and EvoLink"). */
export function limitsOwner(config: Pick<RelayConfig, 'provider' | 'upstreams'>): string {
  const providers = providersOf(config);
  if (providers.length === 1) return config.provider;
  return `every provider of this relay (${providers.map((p) => PROVIDER_CAPABILITIES[p].displayName).join(' and ')})`;
}

/** Checks one input against the limits in force (see {@link mediaLimitsOf}). */
export function checkPoolMedia(
  meta: MediaMeta,
  config: Pick<RelayConfig, 'provider' | 'upstreams'>,
): MediaProblem[] {
  return checkMedia(meta, config.provider, {
    limits: mediaLimitsOf(config),
    acceptedBy: limitsOwner(config),
  });
}
