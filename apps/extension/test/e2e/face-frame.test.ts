import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeVideo } from '@retalk/simulator/media';
import {
  ALL_FORMATS,
  BufferSource,
  BufferTarget,
  Conversion,
  Input,
  Mp4OutputFormat,
  Output,
} from 'mediabunny';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  type ConnectedSetup,
  makeFragmentedTalk,
  makeHlsStream,
  ON_VIDEO,
  openPicker,
  openPopup,
  useConnectedSetup,
} from './support/harness.js';
import { makeToneWav } from './support/media.js';

// Finding 11: the face is picked on any moment of the video, not only the frame at the right-click,
// and the reference image the relay gets is that moment's picture at the video's own resolution.
// The test videos (the simulator's synthetic media) show a white bar that crosses the 640 px
// picture once over their length, so where the bar stands in the reference image tells the time.

let setup: ConnectedSetup;
/** The 20 s file, also chosen as the member's own file. */
let fileBytes: Buffer;
const PLAYER_READY = 'window.playerReady === true';
/** 20 s, 640×480: the bar stands at x = 32 px per second. */
const FILE = 'bar-20s.mp4';
const FILE_SEC = 20;
/** 3 s, 640×480, played 8 times end to end as an HLS stream: the bar crosses once per 3 s segment. */
const PIECE_SEC = 3;
const HLS = 'hls-bar';
/** The face crop's side: 0.45 of the frame's shorter side (480 px in the video, 360 px on screen). */
const NATIVE_CROP = Math.round(480 * 0.45);

type Job = { id: string; input: { refImage?: { uploadId?: string } } };

async function newJobs(before: Set<string>): Promise<Job[]> {
  const response = await fetch(`${setup.relay.url}/v1/jobs?limit=100`, {
    headers: { authorization: `Bearer ${setup.relay.token}` },
  });
  const { jobs } = (await response.json()) as { jobs: Array<{ id: string }> };
  const fresh = jobs.filter((job) => !before.has(job.id));
  return Promise.all(
    fresh.map(
      async (job) =>
        (await (
          await fetch(`${setup.relay.url}/v1/jobs/${job.id}`, {
            headers: { authorization: `Bearer ${setup.relay.token}` },
          })
        ).json()) as Job,
    ),
  );
}

async function jobIds(): Promise<Set<string>> {
  return new Set((await newJobs(new Set())).map((job) => job.id));
}

/**
 * The reference image as the relay stored it: its size and the columns where the bar is (mean
 * brightness over 200 of 255; the background is 96), decoded by Chromium.
 */
async function referenceOf(page: Page, uploadId: string) {
  const bytes = await readFile(join(setup.relay.dataDir, 'files', 'uploads', uploadId));
  return page.evaluate(async (base64) => {
    const blob = await (await fetch(`data:application/octet-stream;base64,${base64}`)).blob();
    const image = await createImageBitmap(blob);
    const canvas = new OffscreenCanvas(image.width, image.height);
    const context = canvas.getContext('2d')!;
    context.drawImage(image, 0, 0);
    const { data } = context.getImageData(0, 0, image.width, image.height);
    const bright: number[] = [];
    for (let x = 0; x < image.width; x++) {
      let sum = 0;
      for (let y = 0; y < image.height; y++) sum += data[(y * image.width + x) * 4]!;
      if (sum / image.height > 200) bright.push(x);
    }
    return { width: image.width, height: image.height, bright };
  }, bytes.toString('base64'));
}

/** Moves the face slider with the keyboard (one step 0.1 s), then to `sec`, and waits for that frame. */
async function seekFaceTo(picker: Page, sec: number, label: string): Promise<void> {
  const slider = picker.getByRole('slider', { name: /Pick the face on another frame/ });
  const from = Number(await slider.inputValue());
  await slider.focus();
  await picker.keyboard.press('ArrowRight');
  expect(Number(await slider.inputValue())).toBeCloseTo(from + 0.1, 5);
  await slider.fill(String(sec));
  expect(await slider.getAttribute('aria-valuetext')).toBe(label);
  await picker
    .getByTestId('face-time-status')
    .filter({ hasText: `The frame at ${label}: click the face` })
    .waitFor({ timeout: 30_000 });
}

/** Clicks the middle of the shown frame, sends, and returns the reference image the relay stored. */
async function pickMiddleAndSend(picker: Page, label: string) {
  const frame = picker.getByRole('button', { name: /Video frame: click the face/ });
  const box = (await frame.boundingBox())!;
  await frame.click({ position: { x: box.width / 2, y: box.height / 2 } });
  await picker
    .getByTestId('face-from')
    .filter({ hasText: `From the frame at ${label}` })
    .waitFor();
  await picker.getByTestId('audio-status').filter({ hasText: '4.0 s' }).waitFor();
  const before = await jobIds();
  await picker.getByRole('button', { name: /^Lip-sync/ }).click();
  await picker.getByTestId('submitted').waitFor({ timeout: 120_000 });
  const [job] = await newJobs(before);
  expect(job?.input.refImage?.uploadId).toBeTruthy();
  return referenceOf(picker, job!.input.refImage!.uploadId!);
}

/** The time in the video a reference cut around x = 320 shows: the bar's x over its speed. */
function barTime(bright: number[], crop: number, pxPerSec: number): number {
  const left = 320 - crop / 2;
  return (left + bright[0]!) / pxPerSec;
}

const voice = { name: 'voice-4s.wav', mimeType: 'audio/wav', buffer: Buffer.from(makeToneWav(4)) };

describe('the face is picked on any frame of the video (finding 11)', () => {
  useConnectedSetup(
    async () => {
      const [long, piece] = await Promise.all([
        makeVideo({
          container: 'mp4',
          codec: 'avc',
          width: 640,
          height: 480,
          fps: 15,
          durationSec: FILE_SEC,
        }),
        makeVideo({
          container: 'mp4',
          codec: 'avc',
          width: 640,
          height: 480,
          fps: 15,
          durationSec: PIECE_SEC,
        }),
      ]);
      // The HLS stream's segments: the 3 s piece as fragmented MP4, copied (not re-encoded).
      const input = new Input({ source: new BufferSource(await readFile(piece)), formats: ALL_FORMATS });
      const target = new BufferTarget();
      const output = new Output({ format: new Mp4OutputFormat({ fastStart: 'fragmented' }), target });
      await (await Conversion.init({ input, output })).execute();
      input.dispose();
      const fragmented = new Uint8Array(target.buffer!);
      fileBytes = await readFile(long);
      return {
        simJobMs: 300,
        media: {
          [FILE]: fileBytes,
          'talk-fragmented.mp4': await makeFragmentedTalk(),
          ...makeHlsStream(fragmented, { name: HLS, count: 8, pieceSec: PIECE_SEC, width: 640, height: 480 }),
        },
      };
    },
    async (started) => {
      setup = started;
      await started.options.close();
    },
  );

  it('a file on the page: the face is picked at 0:10 from a hidden copy, and the page’s player stays at 0:02', async () => {
    const picker = await openPicker(setup.session, `${setup.pages.url}/watch?src=${FILE}&at=2`, ON_VIDEO, {
      ready: PLAYER_READY,
    });
    const page = setup.session.context.pages().find((p) => p.url().includes(`src=${FILE}`))!;
    await picker.setInputFiles('#audio-file', voice);
    // The frame at the right-click first, at the video's own 640×480 (not the 480×360 on screen).
    await picker
      .getByTestId('face-time-status')
      .filter({ hasText: 'The frame at 0:02: click the face' })
      .waitFor();
    expect(
      await picker
        .getByRole('button', { name: /Video frame: click the face/ })
        .locator('img')
        .evaluate((img: HTMLImageElement) => `${img.naturalWidth}×${img.naturalHeight}`),
    ).toBe('640×480');
    await seekFaceTo(picker, 10, '0:10');

    const reference = await pickMiddleAndSend(picker, '0:10');
    expect(reference.width).toBe(NATIVE_CROP);
    expect(reference.height).toBe(NATIVE_CROP);
    // At 0:02 the bar (x = 64) is outside a crop around the middle; at 0:10 it is at its centre.
    expect(reference.bright.length).toBeGreaterThan(0);
    expect(barTime(reference.bright, NATIVE_CROP, 640 / FILE_SEC)).toBeCloseTo(10, 0);
    // The page's player never moved.
    expect(
      await page.evaluate(() => {
        const video = document.querySelector('video')!;
        return { at: video.currentTime, paused: video.paused };
      }),
    ).toEqual({ at: 2, paused: true });
    await picker.close();
    await page.close();
  }, 240_000);

  it('a file from another origin: with CORS its frames are sought as for a same-origin one; without, the picker says so', async () => {
    // The page on 127.0.0.1, its file on localhost (another origin, same server).
    const other = setup.pages.url.replace('127.0.0.1', 'localhost');
    const withCors = `${setup.pages.url}/watch?origin=${encodeURIComponent(other)}&src=${encodeURIComponent(`${FILE}?cors=1`)}&crossorigin=1&at=2&title=CORS`;
    const picker = await openPicker(setup.session, withCors, ON_VIDEO, { ready: PLAYER_READY });
    const page = setup.session.context.pages().find((p) => p.url().includes('title=CORS'))!;
    await picker.setInputFiles('#audio-file', voice);
    await picker
      .getByTestId('face-time-status')
      .filter({ hasText: 'The frame at 0:02: click the face' })
      .waitFor();
    await seekFaceTo(picker, 10, '0:10');
    const reference = await pickMiddleAndSend(picker, '0:10');
    expect(reference.width).toBe(NATIVE_CROP);
    expect(barTime(reference.bright, NATIVE_CROP, 640 / FILE_SEC)).toBeCloseTo(10, 0);
    expect(await page.evaluate(() => document.querySelector('video')!.currentTime)).toBe(2);
    await picker.close();
    await page.close();

    // The same file without CORS: the page may show it but not read it, so no other moment either.
    const withoutCors = `${setup.pages.url}/watch?origin=${encodeURIComponent(other)}&src=${FILE}&at=2&title=Tainted`;
    const tainted = await openPicker(setup.session, withoutCors, ON_VIDEO, { ready: PLAYER_READY });
    expect(await tainted.getByTestId('face-no-seek').textContent()).toContain(
      'Other moments of this video cannot be read here',
    );
    expect(await tainted.getByRole('slider', { name: /Pick the face on another frame/ }).count()).toBe(0);
    await tainted.close();
  }, 240_000);

  it('a video file chosen in the picker: its frames are sought in the picker', async () => {
    const popup = await openPopup(setup.session);
    const opened = setup.session.context.waitForEvent('page', {
      predicate: (p) => p.url().includes('/picker.html?files'),
    });
    await popup.getByRole('button', { name: 'New lip-sync' }).click();
    const picker = await opened;
    await picker.setViewportSize({ width: 520, height: 760 });
    await picker.setInputFiles('#video-file', { name: FILE, mimeType: 'video/mp4', buffer: fileBytes });
    await picker.setInputFiles('#audio-file', voice);
    await picker
      .getByTestId('face-time-status')
      .filter({ hasText: 'The frame at 0:00: click the face' })
      .waitFor({
        timeout: 30_000,
      });
    await seekFaceTo(picker, 10, '0:10');
    const reference = await pickMiddleAndSend(picker, '0:10');
    expect(reference.width).toBe(NATIVE_CROP);
    expect(barTime(reference.bright, NATIVE_CROP, 640 / FILE_SEC)).toBeCloseTo(10, 0);
    await picker.close();
    await popup.close();
  }, 240_000);

  it('an HLS stream: the frame at 0:10.5 is decoded from the segment that holds it, the player stays put', async () => {
    const picker = await openPicker(
      setup.session,
      `${setup.pages.url}/hls?src=${HLS}-master.m3u8&at=0.5&title=HLS bar`,
      ON_VIDEO,
      { ready: PLAYER_READY },
    );
    const page = setup.session.context.pages().find((p) => p.url().includes(`${HLS}-master`))!;
    await picker.getByTestId('hls-hint').waitFor();
    await picker.setInputFiles('#audio-file', voice);
    await picker
      .getByTestId('face-time-status')
      .filter({ hasText: 'The frame at 0:00.5: click the face' })
      .waitFor();
    await seekFaceTo(picker, 10.5, '0:10.5');
    const reference = await pickMiddleAndSend(picker, '0:10.5');
    expect(reference.width).toBe(NATIVE_CROP);
    // The bar crosses once per segment: 1.5 s into the fourth segment (9–12 s) puts it in the middle.
    expect(barTime(reference.bright, NATIVE_CROP, 640 / PIECE_SEC)).toBeCloseTo(1.5, 0);
    expect(await page.evaluate(() => document.querySelector('video')!.currentTime)).toBe(0.5);
    await picker.close();
    await page.close();
  }, 240_000);

  it('a recorded (Media Source) stream says plainly that other frames cannot be shown', async () => {
    const picker = await openPicker(setup.session, `${setup.pages.url}/mse?repeat=2&at=1`, ON_VIDEO, {
      ready: PLAYER_READY,
    });
    await picker.getByTestId('record-hint').waitFor();
    const note = picker.getByTestId('face-no-seek');
    expect(await note.textContent()).toContain('other moments cannot be shown without moving it');
    expect(await picker.getByRole('slider', { name: /Pick the face on another frame/ }).count()).toBe(0);
    await picker.close();
  }, 120_000);
});
