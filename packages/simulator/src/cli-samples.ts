import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliIo } from './cli-run.js';
import { makeAudio, makeVideo } from './synthetic-media.js';

export const SAMPLES_USAGE = `retalk-sim samples: write a sample video and voice to try Retalk with

Usage: retalk-sim samples [--out DIR] [--video-seconds 60] [--voice-seconds 30]

  Writes talk-360p.webm (640×360 VP9 WebM with its own sound, a moving bar) and voice.m4a (AAC,
  a tone) into DIR (default: the current folder): a longer 360p video and a voice note, the kind
  of files the relay conforms (clip, scale to 640 px, VP9 → H.264, M4A → WAV) before a job.
`;

/** `retalk-sim samples`: makes the README's newcomer files with the same encoders the tests use. */
export async function runSamples(argv: string[], io: CliIo): Promise<number> {
  const fail = (message: string) => {
    io.err(`retalk-sim samples: ${message}\n\n${SAMPLES_USAGE}`);
    return 2;
  };
  let values: { out?: string; 'video-seconds'?: string; 'voice-seconds'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string' },
        'video-seconds': { type: 'string' },
        'voice-seconds': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    io.out(SAMPLES_USAGE);
    return 0;
  }
  const seconds = (name: 'video-seconds' | 'voice-seconds', fallback: number, max: number) => {
    const value = Number(values[name] ?? fallback);
    return Number.isInteger(value) && value >= 1 && value <= max ? value : undefined;
  };
  const videoSec = seconds('video-seconds', 60, 600);
  if (videoSec === undefined) return fail('--video-seconds must be a whole number from 1 to 600');
  const voiceSec = seconds('voice-seconds', 30, 600);
  if (voiceSec === undefined) return fail('--voice-seconds must be a whole number from 1 to 600');
  const out = resolve(values.out ?? '.');
  await mkdir(out, { recursive: true });
  io.out(`Making a ${videoSec} s 360p VP9 WebM and a ${voiceSec} s M4A voice…\n`);
  const video = await makeVideo({
    container: 'webm',
    codec: 'vp9',
    width: 640,
    height: 360,
    fps: 30,
    durationSec: videoSec,
    audio: 'opus',
  });
  const voice = await makeAudio({ container: 'm4a', codec: 'aac', durationSec: voiceSec });
  const files = [join(out, 'talk-360p.webm'), join(out, 'voice.m4a')];
  await copyFile(video, files[0] as string);
  await copyFile(voice, files[1] as string);
  io.out(`Wrote ${files.join(' and ')}\n`);
  return 0;
}
