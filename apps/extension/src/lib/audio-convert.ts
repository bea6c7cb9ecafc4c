import { createExtensionError } from './errors.js';
import { t } from './i18n.js';

/** Audio formats the providers take as they are (core's limits); others are converted first. */
const SENDABLE_AUDIO = ['wav', 'mp3', 'aac'];

export function needsConversion(format: string | undefined): boolean {
  return format === undefined || !SENDABLE_AUDIO.includes(format);
}

/** Sample rate of a converted file: what speech needs, and a 2 min mono WAV stays near 10 MB. */
const WAV_RATE = 44_100;

/** Mono 16-bit PCM WAV bytes of decoded audio (channels averaged). */
export function encodeWav(
  buffer: Pick<AudioBuffer, 'numberOfChannels' | 'length' | 'sampleRate' | 'getChannelData'>,
): Uint8Array<ArrayBuffer> {
  const channels = Array.from({ length: buffer.numberOfChannels }, (_, i) => buffer.getChannelData(i));
  const bytes = new Uint8Array(44 + buffer.length * 2);
  const view = new DataView(bytes.buffer);
  const text = (at: number, value: string) => {
    for (let i = 0; i < value.length; i++) bytes[at + i] = value.charCodeAt(i);
  };
  text(0, 'RIFF');
  view.setUint32(4, 36 + buffer.length * 2, true);
  text(8, 'WAVEfmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, buffer.sampleRate, true);
  view.setUint32(28, buffer.sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, 'data');
  view.setUint32(40, buffer.length * 2, true);
  for (let i = 0; i < buffer.length; i++) {
    let sum = 0;
    for (const channel of channels) sum += channel[i] ?? 0;
    const sample = Math.max(-1, Math.min(1, sum / Math.max(1, channels.length)));
    view.setInt16(44 + i * 2, Math.round(sample * 0x7fff), true);
  }
  return bytes;
}

/**
 * Decodes any audio the browser plays (M4A, Ogg/Opus, WebM, FLAC, …) and writes it as a WAV file
 * the provider takes, named after the original.
 */
export async function convertToWav(file: File): Promise<File> {
  let decoded: AudioBuffer;
  try {
    // decodeAudioData resamples to the context's rate.
    decoded = await new OfflineAudioContext(1, 1, WAV_RATE).decodeAudioData(await file.arrayBuffer());
  } catch (cause) {
    throw createExtensionError('audio_unreadable', t('media.notPlayable', { name: file.name }), {
      field: 'audio',
      cause,
    });
  }
  const name = `${file.name.replace(/\.[^.]+$/, '') || 'audio'}.wav`;
  return new File([encodeWav(decoded)], name, { type: 'audio/wav' });
}
