/** Which input a file is for. */
export type MediaKind = 'video' | 'audio' | 'image';

/** Clockwise rotation a video asks its player to apply, in degrees. */
export type Rotation = 0 | 90 | 180 | 270;

/** The video track a probe found. Sizes are the coded (stored) size; turn them by `rotation` for display. */
export interface ProbedVideoTrack {
  /** Normalized codec: `h264`, `hevc`, `vp8`, `vp9`, `av1`, … (`unknown` when the probe cannot tell). */
  codec: string;
  /** Coded width, in pixels. */
  width: number;
  /** Coded height, in pixels. */
  height: number;
  /** Rotation metadata, clockwise degrees. */
  rotation: Rotation;
  /** Average frame rate, frames per second (0 when unknown). */
  fps: number;
}

/** The audio track a probe found. */
export interface ProbedAudioTrack {
  /** Normalized codec: `aac`, `mp3`, `opus`, `vorbis`, `flac`, `pcm`, … */
  codec: string;
  /** Samples per second, in hertz. */
  sampleRate: number;
  /** Number of channels. */
  channels: number;
}

/** Pixel size of a still image. */
/**
 * An EXIF orientation other than upright (TIFF tag 0x0112): how a viewer turns or mirrors the
 * stored picture to show it. 2 mirrored, 3 upside down, 4 flipped, 5 transposed, 6 turned 90°
 * clockwise, 7 transversed, 8 turned 90° counter-clockwise. Phones store portrait photos as 6.
 */
export type ImageOrientation = 2 | 3 | 4 | 5 | 6 | 7 | 8;

export interface ProbedImage {
  /** Stored (coded) size, before any {@link orientation} is applied. */
  width: number;
  height: number;
  /** Set when the file asks its viewer to turn or mirror the picture; undefined = upright. */
  orientation?: ImageOrientation | undefined;
}

/** Size of an image as a viewer shows it: orientations 5–8 swap width and height. */
export function imageDisplaySize(image: ProbedImage): { width: number; height: number } {
  return (image.orientation ?? 1) >= 5
    ? { width: image.height, height: image.width }
    : { width: image.width, height: image.height };
}

/**
 * What a probe found in one file: the container, its length and its tracks. A video file's own
 * `audio` is reported too (a conform that rewrites the video leaves it out). Produced by `probeMedia` in
 * `@retalk/core/media`; any other prober can fill it in.
 */
export interface ProbedMedia {
  kind: MediaKind;
  /** File size in bytes, when known. */
  sizeBytes?: number | undefined;
  /**
   * Normalized container: `mp4 mov webm mkv avi wav mp3 aac m4a ogg flac` for media,
   * `png jpeg webp bmp gif` for images.
   */
  container: string;
  /** Length in seconds (media only). */
  durationSec?: number | undefined;
  video?: ProbedVideoTrack | undefined;
  audio?: ProbedAudioTrack | undefined;
  image?: ProbedImage | undefined;
}

/** Display size of a video track: the coded size turned by its rotation. */
export function displaySize(video: Pick<ProbedVideoTrack, 'width' | 'height' | 'rotation'>): {
  width: number;
  height: number;
} {
  return video.rotation === 90 || video.rotation === 270
    ? { width: video.height, height: video.width }
    : { width: video.width, height: video.height };
}
