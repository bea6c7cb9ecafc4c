import type { ProbedMedia } from '@retalk/core';
import type { UploadMedia } from '@retalk/core/relay';

const CONTENT_TYPES: Record<string, string> = {
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  avi: 'video/x-msvideo',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  aac: 'audio/aac',
  m4a: 'audio/mp4',
  ogg: 'audio/ogg',
  flac: 'audio/flac',
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  bmp: 'image/bmp',
  gif: 'image/gif',
};

/** The relay's summary of a probe (the fields the contract's UploadMedia has always carried). */
export function toUploadMedia(probe: ProbedMedia): UploadMedia {
  const media: UploadMedia = { kind: probe.kind, format: probe.container };
  if (probe.sizeBytes !== undefined) media.sizeBytes = probe.sizeBytes;
  if (probe.durationSec !== undefined) media.durationSec = probe.durationSec;
  const rotated = probe.video && (probe.video.rotation === 90 || probe.video.rotation === 270);
  if (probe.video) {
    media.width = rotated ? probe.video.height : probe.video.width;
    media.height = rotated ? probe.video.width : probe.video.height;
    media.fps = Math.round(probe.video.fps * 100) / 100;
    media.codec = probe.video.codec;
  } else if (probe.audio) {
    media.codec = probe.audio.codec;
  } else if (probe.image) {
    media.width = probe.image.width;
    media.height = probe.image.height;
  }
  return media;
}

/** The Content-Type the relay serves a probed file with. */
export function contentTypeOf(probe: ProbedMedia): string {
  if (probe.kind === 'video' && probe.container === 'm4a') return 'video/mp4';
  return CONTENT_TYPES[probe.container] ?? `${probe.kind}/${probe.container}`;
}
