import {
  ALL_FORMATS,
  BufferSource,
  BufferTarget,
  Conversion,
  EncodedAudioPacketSource,
  type EncodedPacket,
  EncodedPacketSink,
  EncodedVideoPacketSource,
  FilePathSource,
  FilePathTarget,
  Input,
  type InputVideoTrack,
  Mp4OutputFormat,
  NullTarget,
  Output,
  QUALITY_MEDIUM,
  type VideoEncodingConfig,
  type VideoSample,
  VideoSampleSink,
  VideoSampleSource,
} from 'mediabunny';
import { loadCodecs } from './codecs.js';

/**
 * What a succeeded task serves as its result:
 * - `'mux'`: the submitted video with the submitted audio in place of its own, at the documented
 *   length (the shorter of the two, or the audio's length with `video_extension`, the video played
 *   forward and back). This is what a user of the demo expects to see and hear.
 * - `'echo'`: the submitted video's bytes unchanged; costs nothing, for tests that do not look.
 */
export type ResultMode = 'mux' | 'echo';

export const RESULT_MODES: readonly ResultMode[] = ['mux', 'echo'];

/** Environment variable that sets the default result mode (`mux` | `echo`). */
export const RESULT_MODE_ENV = 'RETALK_SIM_RESULT_MODE';

/** The output length the provider documents (providers.md B.5), from the two inputs' lengths. */
export function documentedLength(
  videoSec: number | undefined,
  audioSec: number | undefined,
  extend: boolean,
) {
  if (extend) return audioSec ?? videoSec ?? 0;
  if (videoSec !== undefined && audioSec !== undefined) return Math.min(videoSec, audioSec);
  return videoSec ?? audioSec ?? 0;
}

export interface MuxRequest {
  videoPath: string;
  audioPath: string;
  /** Length of the result in seconds (see documentedLength). */
  lengthSec: number;
  /** Fill a video shorter than `lengthSec` by playing it forward and back (`video_extension`). */
  extend: boolean;
  outPath: string;
  signal?: AbortSignal;
}

// One mux at a time per process: they are CPU-bound and the simulator shares its machine.
let queue: Promise<unknown> = Promise.resolve();
function serialized<T>(work: () => Promise<T>): Promise<T> {
  const run = queue.then(work, work);
  queue = run.catch(() => undefined);
  return run;
}

class MuxAborted extends Error {
  constructor() {
    super('The simulator closed while the result was being made.');
  }
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new MuxAborted();
}

interface FrameSlot {
  timestamp: number;
  duration: number;
}

/**
 * Cuts a decode-order packet list at `lengthSec`: everything from the first packet that starts at
 * or after it is dropped (a packet's references come before it in decode order, so what is kept
 * still decodes). The last packet kept is shortened to end at `lengthSec`, or with `hold` also
 * lengthened to reach it (a video frame held on screen; audio is never stretched).
 */
export function cutPackets<T extends FrameSlot>(packets: readonly T[], lengthSec: number, hold = false): T[] {
  const kept: T[] = [];
  for (const p of packets) {
    if (p.timestamp >= lengthSec - 1e-6) break;
    kept.push({ ...p });
  }
  const last = kept.at(-1);
  if (last && (hold || last.timestamp + last.duration > lengthSec))
    last.duration = lengthSec - last.timestamp;
  return kept;
}

/**
 * The frames of a forward-and-back loop over `frames` (presentation order): 0 … n-1, then
 * n-2 … 1, as source indices. Repeating it plays the clip forward, backward, forward, … without
 * showing the turning frames twice.
 */
export function pingPongOrder(count: number): number[] {
  const order: number[] = [];
  for (let i = 0; i < count; i++) order.push(i);
  for (let i = count - 2; i >= 1; i--) order.push(i);
  return order;
}

/** Timing of every packet of a track, in decode order, without reading their data. */
async function readPacketTimes(sink: EncodedPacketSink, signal: AbortSignal | undefined) {
  const list: FrameSlot[] = [];
  for await (const p of sink.packets(undefined, undefined, { metadataOnly: true })) {
    checkAborted(signal);
    list.push({ timestamp: p.timestamp, duration: p.duration });
  }
  return list;
}

/** The audio as AAC packets trimmed to `lengthSec`, through an in-memory MP4. */
async function audioAsAac(path: string, lengthSec: number, signal: AbortSignal | undefined) {
  const input = new Input({ formats: ALL_FORMATS, source: new FilePathSource(path) });
  try {
    const target = new BufferTarget();
    const output = new Output({ format: new Mp4OutputFormat(), target });
    const duration = await input.computeDuration();
    const conversion = await Conversion.init({
      input,
      output,
      tracks: 'primary',
      video: { discard: true },
      audio: (track) => ({
        codec: 'aac',
        sampleRate: 48_000,
        numberOfChannels: Math.min(2, track.numberOfChannels),
      }),
      trim: { start: 0, end: Math.min(duration, lengthSec) },
      showWarnings: false,
    });
    if (!conversion.isValid) throw new Error('the audio cannot be decoded or encoded to AAC');
    signal?.addEventListener('abort', () => void conversion.cancel(), { once: true });
    await conversion.execute();
    checkAborted(signal);
    const buffer = target.buffer;
    if (!buffer) throw new Error('the audio conversion produced nothing');
    const aac = new Input({ formats: ALL_FORMATS, source: new BufferSource(buffer) });
    const track = await aac.getPrimaryAudioTrack();
    if (!track) throw new Error('the audio conversion produced no audio track');
    const decoderConfig = await track.getDecoderConfig();
    const packets: EncodedPacket[] = [];
    for await (const p of new EncodedPacketSink(track).packets()) packets.push(p);
    aac.dispose();
    return { packets: cutPackets(packets.map(asSlot), lengthSec).map(fromSlot), decoderConfig };
  } finally {
    input.dispose();
  }
}

type EncodedVideoMeta = Parameters<NonNullable<VideoEncodingConfig['onEncodedPacket']>>[1];

// cutPackets copies plain objects; these carry the packet along with its new timing.
type PacketSlot = FrameSlot & { packet: EncodedPacket };
const asSlot = (packet: EncodedPacket): PacketSlot => ({
  timestamp: packet.timestamp,
  duration: packet.duration,
  packet,
});
const fromSlot = (s: PacketSlot) => s.packet.clone({ timestamp: s.timestamp, duration: s.duration });

/**
 * Encodes one forward-and-back loop of the video (or as much of it as `untilSec` needs) to H.264
 * and returns its packets in decode order. The loop is encoded once and repeated by copying, so a
 * 2 s clip stretched to 120 s costs one loop of encoding.
 */
async function encodePingPong(
  track: InputVideoTrack,
  frames: FrameSlot[],
  untilSec: number,
  signal: AbortSignal | undefined,
) {
  const order = pingPongOrder(frames.length);
  const packets: Array<{ packet: EncodedPacket; meta: EncodedVideoMeta }> = [];
  const source = new VideoSampleSource({
    codec: 'avc',
    quality: QUALITY_MEDIUM,
    // x264 `ultrafast` without B-frames: a simulator needs a watchable picture, not a small file.
    latencyMode: 'realtime',
    onEncodedPacket: (packet, meta) => {
      packets.push({ packet, meta });
    },
  });
  const output = new Output({ format: new Mp4OutputFormat(), target: new NullTarget() });
  output.addVideoTrack(source);
  await output.start();
  const sink = new VideoSampleSink(track);
  const width = await track.getCodedWidth();
  const height = await track.getCodedHeight();
  // Frames held at once while playing backwards: about 64 MB of decoded 4:2:0 pictures.
  const window = Math.max(1, Math.floor((64 * 1024 * 1024) / Math.max(1, width * height * 1.5)));
  let at = 0;
  let done = false;
  const emit = async (sample: VideoSample, index: number) => {
    const slot = frames[index] as FrameSlot;
    sample.setTimestamp(at);
    sample.setDuration(slot.duration);
    await source.add(sample);
    at += slot.duration;
    if (at >= untilSec - 1e-6) done = true;
  };
  try {
    // Forward: one decoding pass.
    let index = 0;
    for await (const sample of sink.samples()) {
      checkAborted(signal);
      try {
        if (!done && index < frames.length) await emit(sample, index);
      } finally {
        sample.close();
      }
      index++;
      if (done) break;
    }
    // Backward (order[k] falls as k rises): decode a window of frames forward, hand it to the
    // encoder in reverse.
    for (let lo = frames.length; !done && lo < order.length; ) {
      const hi = Math.min(order.length - 1, lo + window - 1);
      const earliest = frames[order[hi] as number] as FrameSlot;
      const latest = frames[order[lo] as number] as FrameSlot;
      const held: VideoSample[] = [];
      try {
        for await (const sample of sink.samples(earliest.timestamp, latest.timestamp + latest.duration / 2)) {
          held.push(sample);
          checkAborted(signal);
        }
        for (let k = lo; k <= hi && !done; k++) {
          const sourceIndex = order[k] as number;
          const want = (frames[sourceIndex] as FrameSlot).timestamp;
          const sample = held.find((s) => Math.abs(s.timestamp - want) < 1e-4);
          if (sample) await emit(sample, sourceIndex);
        }
      } finally {
        for (const s of held) s.close();
      }
      lo = hi + 1;
    }
    await source.close();
    await output.finalize();
  } catch (error) {
    await output.cancel().catch(() => undefined);
    throw error;
  }
  return { packets, loopSec: at };
}

/** A video track of the result: its codec, its packet count, and how to write its packets. */
interface VideoPlan {
  codec: NonNullable<InputVideoTrack['codec']>;
  packetCount: number;
  write(source: EncodedVideoPacketSource): Promise<void>;
}

/** The input's own packets, cut at (or, its last frame held, stretched to) `lengthSec`. */
async function copiedVideo(
  track: InputVideoTrack,
  codec: VideoPlan['codec'],
  times: FrameSlot[],
  start: number,
  lengthSec: number,
  signal: AbortSignal | undefined,
): Promise<VideoPlan> {
  const decoderConfig = await track.getDecoderConfig();
  if (!decoderConfig) throw new Error('the video track has no decoder config');
  // `hold`: a video a little shorter than the result (its own sound ran longer) shows its last
  // frame until the audio ends.
  const kept = cutPackets(
    times.map((p) => ({ ...p, timestamp: p.timestamp - start })),
    lengthSec,
    true,
  );
  return {
    codec,
    packetCount: kept.length,
    async write(source) {
      let i = 0;
      for await (const packet of new EncodedPacketSink(track).packets()) {
        const slot = kept[i];
        if (!slot) break;
        checkAborted(signal);
        await source.add(
          packet.clone({ timestamp: slot.timestamp, duration: slot.duration }),
          i === 0 ? { decoderConfig } : undefined,
        );
        i++;
      }
    },
  };
}

/** The forward-and-back loop, encoded once and repeated up to `lengthSec`. */
async function extendedVideo(
  track: InputVideoTrack,
  frames: FrameSlot[],
  lengthSec: number,
  signal: AbortSignal | undefined,
): Promise<VideoPlan> {
  const loop = await encodePingPong(track, frames, lengthSec, signal);
  const meta = loop.packets[0]?.meta;
  if (!meta?.decoderConfig) throw new Error('the H.264 encoder gave no decoder config');
  const repeated: PacketSlot[] = [];
  for (let offset = 0; offset < lengthSec - 1e-6; offset += loop.loopSec) {
    for (const { packet } of loop.packets) {
      repeated.push({ timestamp: packet.timestamp + offset, duration: packet.duration, packet });
    }
  }
  const kept = cutPackets(repeated, lengthSec, true);
  return {
    codec: 'avc',
    packetCount: kept.length,
    async write(source) {
      for (const [i, slot] of kept.entries()) {
        checkAborted(signal);
        await source.add(fromSlot(slot), i === 0 ? meta : undefined);
      }
    },
  };
}

/**
 * Writes the task result: the video's frames (copied, or re-encoded once for the forward-and-back
 * extension) with the audio encoded to AAC, both `lengthSec` long, as a fast-start MP4. Throws
 * when either input cannot be read or coded.
 */
export function muxResult(request: MuxRequest): Promise<void> {
  return serialized(async () => {
    const { signal, lengthSec } = request;
    checkAborted(signal);
    await loadCodecs();
    const audio = await audioAsAac(request.audioPath, lengthSec, signal);
    const input = new Input({ formats: ALL_FORMATS, source: new FilePathSource(request.videoPath) });
    try {
      const track = await input.getPrimaryVideoTrack();
      if (!track?.codec) throw new Error('the video has no readable video track');
      const times = await readPacketTimes(new EncodedPacketSink(track), signal);
      const frames = [...times].sort((a, b) => a.timestamp - b.timestamp);
      const first = frames[0];
      const last = frames.at(-1);
      if (!first || !last) throw new Error('the video has no frames');
      const videoEnd = last.timestamp + last.duration - first.timestamp;
      const video =
        request.extend && videoEnd < lengthSec - 1e-3
          ? await extendedVideo(track, frames, lengthSec, signal)
          : await copiedVideo(track, track.codec, times, first.timestamp, lengthSec, signal);

      const output = new Output({
        format: new Mp4OutputFormat({ fastStart: 'reserve' }),
        target: new FilePathTarget(request.outPath),
      });
      const videoSource = new EncodedVideoPacketSource(video.codec);
      output.addVideoTrack(videoSource, {
        rotation: await track.getRotation(),
        maximumPacketCount: video.packetCount,
      });
      const audioSource = new EncodedAudioPacketSource('aac');
      output.addAudioTrack(audioSource, { maximumPacketCount: audio.packets.length });
      await output.start();
      try {
        const writeAudio = async () => {
          for (const [i, packet] of audio.packets.entries()) {
            checkAborted(signal);
            await audioSource.add(
              packet,
              i === 0 && audio.decoderConfig ? { decoderConfig: audio.decoderConfig } : undefined,
            );
          }
        };
        await Promise.all([video.write(videoSource), writeAudio()]);
        await output.finalize();
      } catch (error) {
        await output.cancel().catch(() => undefined);
        throw error;
      }
    } finally {
      input.dispose();
    }
  });
}
