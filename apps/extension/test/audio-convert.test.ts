import { describe, expect, it } from 'vitest';
import { encodeWav, needsConversion } from '../src/lib/audio-convert.js';

describe('audio the provider does not take as it is', () => {
  it('converts every format but WAV, MP3 and AAC', () => {
    expect(['wav', 'mp3', 'aac'].map(needsConversion)).toEqual([false, false, false]);
    expect(['mp4', 'ogg', 'webm', 'flac', undefined].map(needsConversion)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
  });

  it('writes decoded audio as mono 16-bit PCM WAV, the channels averaged', () => {
    const left = new Float32Array([1, 0.5, -1]);
    const right = new Float32Array([1, -0.5, 0]);
    const bytes = encodeWav({
      numberOfChannels: 2,
      length: 3,
      sampleRate: 44_100,
      getChannelData: (i: number) => (i === 0 ? left : right),
    });
    const view = new DataView(bytes.buffer);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('RIFF');
    expect(new TextDecoder().decode(bytes.subarray(8, 16))).toBe('WAVEfmt ');
    expect([view.getUint16(22, true), view.getUint32(24, true), view.getUint16(34, true)]).toEqual([
      1, 44_100, 16,
    ]);
    expect(view.getUint32(40, true)).toBe(6);
    expect([view.getInt16(44, true), view.getInt16(46, true), view.getInt16(48, true)]).toEqual([
      32767, 0, -16383,
    ]);
  });
});
