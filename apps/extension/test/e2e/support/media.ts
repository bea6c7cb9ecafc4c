import { ALL_FORMATS, BufferSource, Input } from 'mediabunny';

/** Duration, size and frame rate of a video file's bytes, read with mediabunny. */
export async function probeVideoBytes(
  bytes: Uint8Array,
): Promise<{ format: string; durationSec: number; width: number; height: number; fps: number }> {
  const input = new Input({ source: new BufferSource(bytes), formats: ALL_FORMATS });
  try {
    const track = (await input.getPrimaryVideoTrack())!;
    return {
      format: (await input.getFormat()).name,
      durationSec: await input.computeDuration(),
      width: track.displayWidth,
      height: track.displayHeight,
      fps: (await track.computePacketStats(200)).averagePacketRate,
    };
  } finally {
    input.dispose();
  }
}

/** A mono 16-bit PCM WAV of a 220 Hz tone, `seconds` long: audio of any length for a clip. */
export function makeToneWav(seconds: number, sampleRate = 16_000): Uint8Array {
  const samples = Math.round(seconds * sampleRate);
  const bytes = new Uint8Array(44 + samples * 2);
  const view = new DataView(bytes.buffer);
  const text = (at: number, value: string) => {
    for (let i = 0; i < value.length; i++) bytes[at + i] = value.charCodeAt(i);
  };
  text(0, 'RIFF');
  view.setUint32(4, 36 + samples * 2, true);
  text(8, 'WAVEfmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, 'data');
  view.setUint32(40, samples * 2, true);
  for (let i = 0; i < samples; i++) {
    view.setInt16(44 + i * 2, Math.round(8000 * Math.sin((2 * Math.PI * 220 * i) / sampleRate)), true);
  }
  return bytes;
}

/** An audio fixture re-encoded in another container and codec (FFmpeg's encoders through core's Node codecs). */
export async function convertAudioFixture(
  path: string,
  to: 'm4a' | 'ogg' | 'webm' | 'flac',
): Promise<Uint8Array> {
  const { useNodeCodecs } = await import('@retalk/core/media/node');
  await useNodeCodecs();
  const mb = await import('mediabunny');
  const formats = {
    m4a: () => ({ format: new mb.Mp4OutputFormat(), codec: 'aac' as const }),
    ogg: () => ({ format: new mb.OggOutputFormat(), codec: 'opus' as const }),
    webm: () => ({ format: new mb.WebMOutputFormat(), codec: 'opus' as const }),
    flac: () => ({ format: new mb.FlacOutputFormat(), codec: 'flac' as const }),
  };
  const { format, codec } = formats[to]();
  const input = new mb.Input({ source: new mb.FilePathSource(path), formats: mb.ALL_FORMATS });
  const target = new mb.BufferTarget();
  try {
    const conversion = await mb.Conversion.init({
      input,
      output: new mb.Output({ format, target }),
      audio: { codec },
    });
    if (!conversion.isValid)
      throw new Error(
        `cannot convert ${path} to ${to}: ${JSON.stringify(conversion.discardedTracks.map((t) => t.reason))}`,
      );
    await conversion.execute();
  } finally {
    input.dispose();
  }
  return new Uint8Array(target.buffer!);
}
