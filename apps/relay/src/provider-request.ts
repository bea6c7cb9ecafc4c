import fs from 'node:fs';
import { acceptsUpload, type LipSyncRequest } from '@retalk/core';
import type { RelayConfig } from './config.js';
import type { UrlSigner } from './signing.js';
import type { FileStorage } from './storage/local.js';
import type { JobRecord, RelayStore } from './store/types.js';
import type { UpstreamPool } from './upstream-pool.js';

export interface RequestBuilderOptions {
  config: RelayConfig;
  store: RelayStore;
  storage: Pick<FileStorage, 'pathOf'>;
  upstreams: Pick<UpstreamPool, 'of'>;
  signer: UrlSigner;
  /** The relay's public address, as the provider reaches it (read at each build: it may be learnt late). */
  publicUrl: () => string;
}

/**
 * Builds the provider request of a job placed on an upstream: each input as a signed relay link, or
 * uploaded to that upstream's own storage when the relay routes inputs that way and the provider
 * takes the file. `submitAt` anchors the signed links, so rebuilding the request of one submit
 * (recovery under the same idempotency key) gives byte-identical URLs.
 */
export function createRequestBuilder(
  o: RequestBuilderOptions,
): (job: JobRecord, submitAt: number) => Promise<LipSyncRequest> {
  return async function buildRequest(job: JobRecord, submitAt: number): Promise<LipSyncRequest> {
    // DashScope's oss:// files are bound to the account: uploaded through the job's own upstream.
    const upstreamClient = o.upstreams.of(job.upstreamName).client;
    const toUrl = async (
      input: JobRecord['input']['video'],
      name: 'video' | 'audio' | 'refImage',
    ): Promise<string> => {
      // A prepared job sends the relay's own files: fetched copies and conformed outputs.
      const prepared = job.conform?.[name];
      if (prepared === undefined && input.url !== undefined) return input.url;
      const upload = await o.store.getUpload(prepared?.uploadId ?? (input.uploadId as string));
      if (!upload) throw new Error(`upload ${input.uploadId} was deleted`);
      // The provider's storage only when it takes this kind of file: EvoLink's files API documents
      // images only (audit row 3), so its video and audio go by relay link.
      if (
        o.config.inputRoute === 'provider' &&
        acceptsUpload(upstreamClient.capabilities.upload, upload.contentType)
      ) {
        // The provider's own storage (DashScope oss://, EvoLink files): a file-backed Blob keeps
        // memory flat while core uploads it.
        const blob = await fs.openAsBlob(o.storage.pathOf(upload.storageKey), { type: upload.contentType });
        const stored = await upstreamClient.uploadFile(blob, {
          filename: upload.filename,
          contentType: upload.contentType,
        });
        return stored.url;
      }
      const filePath = `/files/uploads/${upload.id}`;
      // Valid long enough for the provider to start the task after any queueing upstream.
      const link = `${o.publicUrl()}${filePath}?${o.signer.sign(filePath, 6 * 3_600_000, submitAt).query}`;
      // The built-in simulator reads its scenario markers (`?sim=fail:…`) from the video URL; the
      // offline demo keeps them working on the relay's copy of a URL input.
      const marker = o.config.simulator && input.url !== undefined ? simMarker(input.url) : undefined;
      return marker ? `${link}&sim=${encodeURIComponent(marker)}` : link;
    };
    const request: LipSyncRequest = {
      video: await toUrl(job.input.video, 'video'),
      audio: await toUrl(job.input.audio, 'audio'),
    };
    if (job.input.refImage) request.refImage = await toUrl(job.input.refImage, 'refImage');
    if (job.input.videoExtension) request.videoExtension = true;
    if (job.input.faceThreshold !== undefined) request.faceThreshold = job.input.faceThreshold;
    // Callbacks go only to public https URLs (EvoLink); the token in the path is unguessable per job.
    if (upstreamClient.capabilities.callbacks && o.publicUrl().startsWith('https://')) {
      request.callbackUrl = `${o.publicUrl()}/v1/callbacks/${job.callbackToken}`;
    }
    return request;
  };
}

/** The simulator's scenario marker (`?sim=fail:…`) of a URL input, if any. */
function simMarker(url: string): string | undefined {
  try {
    return new URL(url).searchParams.get('sim') ?? undefined;
  } catch {
    return undefined;
  }
}
