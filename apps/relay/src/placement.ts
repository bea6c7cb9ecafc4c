import { acceptsUpload, PROVIDER_CAPABILITIES, type Provider } from '@retalk/core';
import type { RelayConfig } from './config.js';
import type { InputName } from './input-plan.js';
import type { JobRecord, RelayStore } from './store/types.js';

/** What a job needs that an upstream lacks, naming the request field. */
export interface UnmetNeed {
  field: InputName;
  message: string;
}

/** One file the relay hands the provider for a job input. */
export interface SentFile {
  field: InputName;
  contentType: string;
}

/**
 * Whether the provider can fetch the relay's own signed links. With RETALK_INPUT_ROUTE=provider and
 * no RETALK_PUBLIC_URL it cannot (the relay's address is then its listen address), so a file must
 * go through the provider's own storage, which not every provider has for every kind: DashScope's
 * temporary storage takes video, audio and images, EvoLink's files API images only (audit row 3).
 * The built-in simulator fetches on loopback.
 */
export function relayLinksReachable(
  config: Pick<RelayConfig, 'inputRoute' | 'publicUrl' | 'simulator'>,
): boolean {
  return config.inputRoute === 'relay' || config.publicUrl !== undefined || config.simulator;
}

const FIELD_WORDS: Record<InputName, string> = {
  video: 'video',
  audio: 'audio',
  refImage: 'reference image',
};

/**
 * Why an upstream of `provider` cannot take a job that sends `files`; undefined when it can. A
 * mixed pool places such a job only on the upstreams that can (tracker.ts), instead of sending a
 * link the provider cannot fetch.
 */
export function unmetNeedOn(
  provider: Provider,
  files: readonly SentFile[],
  config: Pick<RelayConfig, 'inputRoute' | 'publicUrl' | 'simulator'>,
): UnmetNeed | undefined {
  if (relayLinksReachable(config)) return undefined;
  const { displayName, upload } = PROVIDER_CAPABILITIES[provider];
  const file = files.find((f) => !acceptsUpload(upload, f.contentType));
  if (!file) return undefined;
  return {
    field: file.field,
    message: `the ${FIELD_WORDS[file.field]} (${file.contentType}) can reach a provider only through its own storage here (RETALK_INPUT_ROUTE=provider without RETALK_PUBLIC_URL), and ${displayName}'s storage takes ${upload.mimeTypes.join(', ')} only`,
  };
}

/**
 * Why no upstream of the pool can take a job sending `files`, naming the field and what would be
 * needed; undefined when one can.
 */
export function unmetEverywhere(
  providers: readonly Provider[],
  files: readonly SentFile[],
  config: Pick<RelayConfig, 'inputRoute' | 'publicUrl' | 'simulator'>,
): UnmetNeed | undefined {
  const unmet = providers.map((p) => unmetNeedOn(p, files, config));
  if (unmet.some((u) => u === undefined)) return undefined;
  const first = unmet[0] as UnmetNeed;
  return {
    field: first.field,
    message: `No upstream of this relay can take this job: ${unmet.map((u) => u?.message).join('; ')}. Ask the relay admin to set RETALK_PUBLIC_URL or to add an upstream whose storage takes it.`,
  };
}

/**
 * The files a job sends as the relay's own (uploads, fetched copies, conformed outputs), with their
 * types, as `buildRequest` (app.ts) picks them: a URL input not prepared goes as its URL.
 */
export async function sentFilesOf(job: JobRecord, store: Pick<RelayStore, 'getUpload'>): Promise<SentFile[]> {
  const files: SentFile[] = [];
  for (const field of ['video', 'audio', 'refImage'] as const) {
    const input = job.input[field];
    if (!input) continue;
    const prepared = job.conform?.[field];
    if (prepared === undefined && input.url !== undefined) continue;
    const upload = await store.getUpload(prepared?.uploadId ?? (input.uploadId as string));
    if (upload) files.push({ field, contentType: upload.contentType });
  }
  return files;
}
