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
