import { readFile } from 'node:fs/promises';
import { makeVideo } from '@retalk/simulator/media';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  type ConnectedSetup,
  fixture,
  frameIdOf,
  ON_VIDEO,
  openPicker,
  openPopup,
  screenshot,
  setSiteAccess,
  useConnectedSetup,
} from './support/harness.js';
import { makeToneWav, probeVideoBytes } from './support/media.js';

// Choosing the clip of a whole file, and the pages people meet with files on them, each to a
// finished job: only the access a member grants (this site, which is also the relay's; the
// embedded player's site only when asked), the relay in simulator mode conforming what it gets.

let setup: ConnectedSetup;
const PLAYER_READY = 'window.playerReady === true';
const PLAYER_SITE = 'http://localhost/*';
/**
 * A host name only the member's network knows (an intranet video server): Chromium maps it to the
 * test pages, the relay cannot resolve it, so it refuses the address (`url_not_allowed`).
 */
const LAN_HOST = 'media.lan.example';
/**
 * Tests whose relay conforms 30 s of a 4-minute file (fetch, cut, re-encode; twice for two jobs):
 * on the shared 2-core machine under other sessions' load that alone took over 2 min once.
 */
const HEAVY_TEST_MS = 420_000;
/** A 4-minute talk (640×480 H.264, a key frame every 2 s) and a 20 s 360p VP9 WebM, made at test time. */
const LONG = 'talk-4min.mp4';
const WEBM = 'talk-360p.webm';
let longBytes = 0;
/** The 4-minute file's bytes, also chosen as the member's own file. */
let longFile: Buffer;

type Job = {
  id: string;
  status: string;
  title?: string;
  estimatedSeconds: number;
  input: {
    video: { url?: string; uploadId?: string; startSec?: number; endSec?: number; sourceOffsetSec?: number };
  };
  conform?: { video?: { changes: string[] } };
};

async function relayJob(id: string): Promise<Job> {
  const response = await fetch(`${setup.relay.url}/v1/jobs/${id}`, {
    headers: { authorization: `Bearer ${setup.relay.token}` },
  });
  return (await response.json()) as Job;
}

async function jobIds(): Promise<string[]> {
  const response = await fetch(`${setup.relay.url}/v1/jobs?limit=100`, {
    headers: { authorization: `Bearer ${setup.relay.token}` },
  });
  return ((await response.json()) as { jobs: Job[] }).jobs.map((job) => job.id);
}

/** Bytes of the member's uploads the relay keeps. */
async function storedBytes(): Promise<number> {
  const response = await fetch(`${setup.relay.url}/v1/me`, {
    headers: { authorization: `Bearer ${setup.relay.token}` },
  });
  return ((await response.json()) as { storage: { usedBytes: number } }).storage.usedBytes;
}

async function shoot(page: Page, name: string): Promise<void> {
  await screenshot(page, name);
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, `${name}-dark`);
  await page.emulateMedia({ colorScheme: 'light' });
}

const tone = (seconds: number, name = `tone-${seconds}s.wav`) => ({
  name,
  mimeType: 'audio/wav',
  buffer: Buffer.from(makeToneWav(seconds)),
});

/**
 * Sends and waits for the picker's "started" notice; returns the new jobs (oldest first) and the
 * milliseconds from the click until the video had reached the relay and the jobs were created.
 */
async function send(picker: Page, count = 1): Promise<{ ids: string[]; ms: number }> {
  const before = new Set(await jobIds());
  const clicked = Date.now();
  await picker.getByRole('button', { name: /^Lip-sync/ }).click();
  await picker.getByTestId('submitted').waitFor({ timeout: 120_000 });
  const ms = Date.now() - clicked;
  const ids = (await jobIds()).filter((id) => !before.has(id)).reverse();
  expect(ids).toHaveLength(count);
  return { ids, ms };
}

/** Follows a job in the popup to done; returns the result's bytes. */
async function resultOf(popup: Page, id: string): Promise<Uint8Array> {
  const card = popup.locator(`li[data-job-id="${id}"][data-status="succeeded"]`);
  await card.waitFor({ timeout: 120_000 });
  await card.getByRole('button', { name: 'Preview' }).click();
  const href = (await card.locator('a.result-link').getAttribute('href'))!;
  return new Uint8Array(await (await fetch(href)).arrayBuffer());
}

describe('the clip of a whole file, and the pages people meet, with only the access a member grants', () => {
  useConnectedSetup(
    async () => {
      const [long, webm] = await Promise.all([
        makeVideo({ container: 'mp4', codec: 'avc', width: 640, height: 480, fps: 15, durationSec: 240 }),
        makeVideo({ container: 'webm', codec: 'vp9', width: 640, height: 360, fps: 15, durationSec: 20 }),
      ]);
      longFile = await readFile(long);
      longBytes = longFile.length;
      return {
        simJobMs: 300,
        media: { [LONG]: longFile, [WEBM]: await readFile(webm) },
        // The intranet page is granted as the right-click's activeTab grants the page clicked.
        sites: { granted: ['http://127.0.0.1/*', `http://${LAN_HOST}/*`], withheld: [PLAYER_SITE] },
        // A relay as deployed: private addresses refused, except the media server its admin allowed.
        relayEnv: (pages) => ({
          RETALK_ALLOW_PRIVATE_URLS: 'false',
          RETALK_ALLOWED_INPUT_HOSTS: new URL(pages.url).host,
        }),
        browserArgs: [`--host-resolver-rules=MAP ${LAN_HOST} 127.0.0.1`],
      };
    },
    async (started) => {
      setup = started;
      await started.options.close();
    },
  );

  it(
    'a 4-minute video on a plain page: 30 s chosen on a timeline of its frames, cut at a key frame in the browser, only the clip uploaded',
    async () => {
      // The member stands at 1:35.3 (between key frames) and brings a 30 s voice.
      const picker = await openPicker(
        setup.session,
        `${setup.pages.url}/watch?src=${LONG}&at=95.3`,
        ON_VIDEO,
        {
          ready: PLAYER_READY,
        },
      );
      expect(await picker.getByTestId('video-meta').textContent()).toContain('4 min');
      await picker.getByTestId('clip-thumbnails').locator('img').nth(7).waitFor();
      await picker.setInputFiles('#audio-file', tone(30));
      await picker.getByTestId('audio-status').filter({ hasText: '30 s' }).waitFor();
      await picker.getByTestId('clip-summary').filter({ hasText: '1:35.3 – 2:05.3' }).waitFor();
      // The clip, not the whole video, is checked and costed: 4 minutes would be refused.
      expect(await picker.getByTestId('media-problems').count()).toBe(0);
      expect(await picker.getByTestId('cost').textContent()).toContain('30 s');
      await shoot(picker, 'picker-clip-long');

      const storedBefore = await storedBytes();
      const { ids, ms } = await send(picker);
      console.info(
        `30 s clip of a 4-minute file, read from the page and cut in the browser: at the relay in ${ms} ms`,
      );
      // The picker says what the cut did.
      expect(await picker.locator('[data-step="cut-video"]').textContent()).toBe(
        'Cut without re-encoding from the key frame at 1:34; the relay trims the exact start.',
      );
      const job = await relayJob(ids[0]!);
      // Cut at the key frame at 1:34 before the start: the relay is told where the clip lies in it.
      expect(job.input.video.uploadId).toBeDefined();
      expect(job.input.video.startSec).toBeCloseTo(1.3, 1);
      expect(job.input.video.endSec! - job.input.video.startSec!).toBeCloseTo(30, 1);
      // …and where the piece starts in the member's file, so the job speaks in the file's times.
      expect(job.input.video.sourceOffsetSec! + job.input.video.startSec!).toBeCloseTo(95.3, 1);
      // About an eighth of the file went up (31.3 s of 240 s), besides the 30 s voice (a WAV).
      const videoBytes = (await storedBytes()) - storedBefore - makeToneWav(30).length;
      expect(videoBytes).toBeGreaterThan(0);
      expect(videoBytes).toBeLessThan(longBytes / 5);
      // The picker follows the job: the relay's preparing phase and what it changed.
      await picker
        .locator(`[data-testid="picker-job"][data-job-id="${ids[0]}"]`)
        .getByTestId('conform')
        .filter({ hasText: 'trimmed to 1:35.3–2:05.3' })
        .waitFor({ timeout: 120_000 });
      await shoot(picker, 'picker-clip-long-submitted');

      const popup = await openPopup(setup.session);
      const result = await probeVideoBytes(await resultOf(popup, ids[0]!));
      expect(result.durationSec).toBeGreaterThan(29.8);
      expect(result.durationSec).toBeLessThan(30.3);
      const card = popup.locator(`li[data-job-id="${ids[0]}"]`);
      expect(await card.getByTestId('conform').textContent()).toContain('trimmed to 1:35.3–2:05.3');
      await shoot(popup, 'popup-clip-conformed');
      await popup.close();
      await picker.close();
    },
    HEAVY_TEST_MS,
  );

  it(
    'several audios for one clip by its address: each checked, the cost of all shown first, one job each, grouped in the popup',
    async () => {
      const picker = await openPicker(
        setup.session,
        `${setup.pages.url}/watch?src=${LONG}&at=60&title=Quarterly%20talk`,
        ON_VIDEO,
        { ready: PLAYER_READY },
      );
      // The relay fetches the file itself and cuts the clip: nothing is uploaded from here.
      await picker.getByLabel(/^By its address/).check();
      // A 1 s voice among them is refused before anything is spent, by name.
      await picker.setInputFiles('#audio-file', [tone(30, 'voice-en.wav'), tone(1, 'voice-xx.wav')]);
      await picker.getByTestId('media-problems').filter({ hasText: 'voice-xx.wav' }).waitFor();
      expect(await picker.getByRole('button', { name: /^Lip-sync/ }).isDisabled()).toBe(true);
      await shoot(picker, 'picker-audios-refused');

      await picker.setInputFiles('#audio-file', [
        tone(30, 'voice-en.wav'),
        { name: 'voice-fr.wav', mimeType: 'audio/wav', buffer: await readFile(fixture('speech-4s.wav')) },
      ]);
      await picker.getByTestId('audio-group').filter({ hasText: '2 audios' }).waitFor();
      await picker.getByTestId('audio-line').nth(1).filter({ hasText: '4.0 s' }).waitFor();
      // The clip follows the longest voice; the jobs cost 30 s and 4 s.
      await picker.getByTestId('clip-summary').filter({ hasText: '1:00 – 1:30' }).waitFor();
      expect(await picker.getByTestId('cost').textContent()).toContain('These 2 jobs use about 34 s');
      await shoot(picker, 'picker-audios-ready');

      const { ids, ms } = await send(picker, 2);
      console.info(
        `30 s clip by its address (the relay fetches and cuts): job created ${ms} ms after the click`,
      );
      for (const id of ids) {
        const job = await relayJob(id);
        expect(job.input.video).toEqual({
          url: `${setup.pages.url}/media/${LONG}`,
          startSec: 60,
          endSec: 90,
        });
      }
      expect((await relayJob(ids[0]!)).title).toBe('Quarterly talk · voice-en.wav');

      const popup = await openPopup(setup.session);
      const group = popup.getByTestId('job-group').filter({ hasText: 'Quarterly talk' });
      // Two conforms of 30 s at the relay: minutes on the loaded machine. A timeout names each job's state.
      await group
        .filter({ hasText: 'One video, 2 languages · 2 of 2 done' })
        .waitFor({ timeout: 240_000 })
        .catch(async (error: unknown) => {
          const states = await Promise.all(ids.map(async (id) => (await relayJob(id)).status));
          throw new Error(`the group did not finish; the relay's jobs are ${states.join(', ')}`, {
            cause: error,
          });
        });
      expect(await group.locator('li.job .job-title').allTextContents()).toEqual([
        'voice-en.wav',
        'voice-fr.wav',
      ]);
      await shoot(popup, 'popup-group');
      await popup.close();
      await picker.close();
    },
    HEAVY_TEST_MS,
  );

  it(
    'a voice track longer than a job: its first 2 min proposed, the member picks 1:00–1:30 and plays it, the relay cuts just that part',
    async () => {
      const picker = await openPicker(
        setup.session,
        `${setup.pages.url}/watch?src=${LONG}&at=10&title=Interview`,
        ON_VIDEO,
        { ready: PLAYER_READY },
      );
      await picker.getByLabel(/^By its address/).check();
      await picker.setInputFiles('#audio-file', tone(180, 'interview-3min.wav'));
      await picker.getByTestId('audio-line').filter({ hasText: 'interview-3min.wav · 3 min' }).waitFor();
      // Three minutes is more than a job takes: the first two are proposed, in the open, not refused.
      await picker.getByTestId('audio-0-proposed').filter({ hasText: 'first 2 min are used' }).waitFor();
      await picker.getByTestId('audio-0-summary').filter({ hasText: '0:00 – 2:00' }).waitFor();
      expect(await picker.getByTestId('media-problems').count()).toBe(0);
      await shoot(picker, 'picker-audio-part-proposed');

      // The member chooses 1:00–1:30 of the voice; the video's clip follows its length.
      await picker.locator('#audio-0-start').fill('60');
      await picker.locator('#audio-0-end').fill('90');
      await picker.getByTestId('audio-0-summary').filter({ hasText: '1:00 – 1:30' }).waitFor();
      await picker.getByTestId('audio-0-proposed').waitFor({ state: 'detached' });
      await picker.getByTestId('clip-summary').filter({ hasText: '0:10 – 0:40' }).waitFor();
      expect(await picker.getByTestId('cost').textContent()).toContain('30 s');
      // The part plays in the picker from its start.
      await picker.getByRole('button', { name: 'Play this part' }).click();
      await picker.getByTestId('audio-0-preview-status').filter({ hasText: 'Playing 1:00 – 1:30' }).waitFor();
      await picker.waitForFunction(() => {
        const audio = document.querySelector<HTMLAudioElement>('[data-testid="audio-0-player"]')!;
        return !audio.paused && audio.currentTime >= 60 && audio.currentTime < 90;
      });
      await picker.evaluate(() =>
        document.querySelector<HTMLAudioElement>('[data-testid="audio-0-player"]')!.pause(),
      );
      await shoot(picker, 'picker-audio-part');

      const { ids } = await send(picker);
      const job = (await relayJob(ids[0]!)) as Job & {
        input: { audio: { uploadId?: string; startSec?: number; endSec?: number } };
        conform?: { audio?: { changes: string[] } };
      };
      // The whole voice went up once; the relay cuts the part, and only that is billed.
      expect(job.input.audio).toMatchObject({ startSec: 60, endSec: 90 });
      expect(job.input.audio.uploadId).toBeDefined();
      expect(job.estimatedSeconds).toBe(30);
      await picker
        .locator(`[data-testid="picker-job"][data-job-id="${ids[0]}"]`)
        .getByTestId('conform')
        .filter({ hasText: 'Audio: trimmed to 1:00–1:30 (30 s)' })
        .waitFor({ timeout: 120_000 });
      const popup = await openPopup(setup.session);
      const result = await probeVideoBytes(await resultOf(popup, ids[0]!));
      expect(result.durationSec).toBeGreaterThan(29.8);
      expect(result.durationSec).toBeLessThan(30.3);
      await popup.close();
      await picker.close();
    },
    HEAVY_TEST_MS,
  );

  it('a 360p VP9 WebM: previewed on the page, cut in the browser, scaled and converted by the relay, which says so', async () => {
    const picker = await openPicker(
      setup.session,
      `${setup.pages.url}/watch?src=${WEBM}&title=WebM`,
      ON_VIDEO,
      {
        ready: PLAYER_READY,
      },
    );
    expect(await picker.getByTestId('video-meta').textContent()).toContain('640×360');
    await picker.setInputFiles('#audio-file', fixture('speech-4s.wav'));
    await picker.getByTestId('audio-status').filter({ hasText: '4.0 s' }).waitFor();
    // The keyboard moves the end: ten steps of 0.1 s.
    await picker.locator('#clip-end').focus();
    for (let i = 0; i < 10; i++) await picker.keyboard.press('ArrowRight');
    await picker.getByTestId('clip-summary').filter({ hasText: '0:00 – 0:05' }).waitFor();
    // No 360p refusal: the relay scales it.
    expect(await picker.getByTestId('media-problems').count()).toBe(0);
    // The preview plays the clip on the page's own player and stops at its end.
    await picker.getByRole('button', { name: 'Preview the clip' }).click();
    await picker.getByTestId('clip-preview-status').filter({ hasText: 'on the page' }).waitFor();
    const page = setup.session.context.pages().find((p) => p.url().includes(WEBM))!;
    await page.waitForFunction(() => {
      const video = document.querySelector('video')!;
      return video.paused && video.currentTime >= 4.9;
    });
    expect(await page.evaluate(() => document.querySelector('video')!.currentTime)).toBeLessThan(6);
    await shoot(picker, 'picker-webm');

    const { ids } = await send(picker);
    const popup = await openPopup(setup.session);
    const result = await probeVideoBytes(await resultOf(popup, ids[0]!));
    expect(result).toMatchObject({ width: 1138, height: 640 });
    const notes = await popup.locator(`li[data-job-id="${ids[0]}"]`).getByTestId('conform').textContent();
    expect(notes).toContain('scaled 640×360 → 1138×640');
    expect(notes).toContain('VP9 → H.264');
    await shoot(popup, 'popup-webm-conformed');
    await popup.close();
    await picker.close();
  });

  it('a video file the member chooses: frames on its timeline, the clip previewed in the picker and stopped at its end, then cut and sent', async () => {
    const picker = await openPicker(setup.session, `${setup.pages.url}/watch?title=Own%20file`, ON_VIDEO);
    await picker.getByText('Use a video file instead').click();
    await picker.setInputFiles('#video-file', {
      name: 'my-talk.mp4',
      mimeType: 'video/mp4',
      buffer: longFile,
    });
    await picker.getByTestId('video-meta').filter({ hasText: '4 min' }).waitFor();
    await picker.getByTestId('clip-thumbnails').locator('img').nth(7).waitFor();
    await picker.setInputFiles('#audio-file', fixture('speech-4s.wav'));
    await picker.getByTestId('audio-status').filter({ hasText: '4.0 s' }).waitFor();
    // A file has no "current position": the clip starts at 0:00; the member moves it to 1:00.
    await picker.getByTestId('clip-summary').filter({ hasText: '0:00 – 0:04' }).waitFor();
    await picker.locator('#clip-end').fill('64');
    await picker.locator('#clip-start').fill('60');
    await picker.getByTestId('clip-summary').filter({ hasText: '1:00 – 1:04' }).waitFor();
    await picker.getByRole('button', { name: 'Preview the clip' }).click();
    await picker.getByTestId('clip-preview-status').filter({ hasText: 'Played 1:00 – 1:04.' }).waitFor();
    const stoppedAt = await picker
      .getByTestId('clip-preview-video')
      .evaluate((video: HTMLVideoElement) => ({ paused: video.paused, at: video.currentTime }));
    expect(stoppedAt.paused).toBe(true);
    expect(stoppedAt.at).toBeGreaterThanOrEqual(64);
    expect(stoppedAt.at).toBeLessThan(65);
    await shoot(picker, 'picker-file-preview');

    const { ids } = await send(picker);
    // 1:00 is a key frame: the clip is copied exactly, nothing is left for the relay to trim.
    expect(await picker.locator('[data-step="cut-video"]').textContent()).toBe(
      'Cut without re-encoding: the clip starts on a key frame.',
    );
    const job = await relayJob(ids[0]!);
    expect(job.input.video.uploadId).toBeDefined();
    expect(job.input.video.startSec).toBeUndefined();
    const popup = await openPopup(setup.session);
    const result = await probeVideoBytes(await resultOf(popup, ids[0]!));
    expect(result.durationSec).toBeGreaterThan(3.8);
    expect(result.durationSec).toBeLessThan(4.3);
    await popup.close();
    await picker.close();
  });

  it('a page on a host the relay may not fetch: the address is refused, the clip is read from the page and uploaded instead, and the picker says so', async () => {
    const pageUrl = `${setup.pages.url.replace('127.0.0.1', LAN_HOST)}/watch?src=${LONG}&at=95.3&title=Intranet`;
    const picker = await openPicker(setup.session, pageUrl, ON_VIDEO, { ready: PLAYER_READY });
    // The name looks public to the extension, so the address is what it sends first.
    expect(await picker.getByLabel(/^By its address/).isChecked()).toBe(true);
    await picker.setInputFiles('#audio-file', fixture('speech-4s.wav'));
    await picker.getByTestId('clip-summary').filter({ hasText: '1:35.3 – 1:39.3' }).waitFor();
    const { ids, ms } = await send(picker);
    console.info(
      `4 s clip whose address the relay refused, read from the page instead: at the relay in ${ms} ms`,
    );
    const refused = picker.locator('[data-step="url-refused"]');
    expect(await refused.textContent()).toMatch(
      new RegExp(
        `^The relay cannot fetch this video by its address: video\\.url .*${LAN_HOST.replaceAll('.', '\\.')}.* Reading it from this page and uploading it instead\\.$`,
      ),
    );
    await shoot(picker, 'picker-url-refused');
    // The job holds the upload (the clip cut at a key frame here), not the address.
    const job = await relayJob(ids[0]!);
    expect(job.input.video.url).toBeUndefined();
    expect(job.input.video.uploadId).toBeDefined();
    expect(job.input.video.sourceOffsetSec! + job.input.video.startSec!).toBeCloseTo(95.3, 1);
    const popup = await openPopup(setup.session);
    const result = await probeVideoBytes(await resultOf(popup, ids[0]!));
    expect(result.durationSec).toBeGreaterThan(3.8);
    expect(result.durationSec).toBeLessThan(4.3);
    await popup.close();
    await picker.close();
  });

  it('a page with several videos: the one right-clicked is taken, and the member can switch to another', async () => {
    const picker = await openPicker(setup.session, `${setup.pages.url}/several`, ON_VIDEO, {
      selector: '#b',
    });
    expect(await picker.getByTestId('video-meta').textContent()).toContain('640×640');
    // The switcher lists the page's three videos, the right-clicked one chosen (finding 9).
    const switcher = picker.getByTestId('video-switcher');
    await switcher.getByRole('radio').nth(2).waitFor();
    expect(await switcher.getByRole('radio').count()).toBe(3);
    expect(await switcher.getByRole('radio', { name: /Video 2/ }).isChecked()).toBe(true);
    expect(await switcher.textContent()).toContain('640×480');
    await shoot(picker, 'picker-several');
    await switcher.getByRole('radio', { name: /Video 1/ }).check();
    await picker.getByTestId('video-meta').filter({ hasText: '640×480' }).waitFor();
    expect(await switcher.getByRole('radio', { name: /Video 1/ }).isChecked()).toBe(true);
    await picker.setInputFiles('#audio-file', fixture('speech-4s.wav'));
    await picker.getByTestId('audio-status').filter({ hasText: '4.0 s' }).waitFor();
    await shoot(picker, 'picker-several-switched');
    const { ids } = await send(picker);
    const popup = await openPopup(setup.session);
    // The first video (640×480) went to the relay, not the right-clicked square one.
    const result = await probeVideoBytes(await resultOf(popup, ids[0]!));
    expect(result.width / result.height).toBeCloseTo(4 / 3, 2);
    await popup.close();
    await picker.close();
  });

  it('a file in a player embedded from another site: asked for, then its clip read in that frame and cut', async () => {
    const innerUrl = `${setup.pages.url.replace('127.0.0.1', 'localhost')}/watch?src=${LONG}&at=31&title=Embedded`;
    const pageUrl = `${setup.pages.url}/frame?inner=${encodeURIComponent(innerUrl)}`;
    const picker = await openPicker(setup.session, pageUrl, ON_VIDEO, {
      ready: PLAYER_READY,
      inFrame: true,
      frameId: async (page) => {
        await setSiteAccess(setup.session, PLAYER_SITE, true);
        const id = await frameIdOf(setup.session, page.url(), innerUrl);
        await setSiteAccess(setup.session, PLAYER_SITE, false);
        return id;
      },
    });
    await picker.getByTestId('frame-access').waitFor();
    await setSiteAccess(setup.session, PLAYER_SITE, true);
    await picker.getByRole('button', { name: 'Allow access to localhost' }).click();
    await picker.getByTestId('frame-access').waitFor({ state: 'detached' });
    await picker.getByTestId('clip-thumbnails').locator('img').nth(7).waitFor();
    await picker.setInputFiles('#audio-file', fixture('speech-4s.wav'));
    await picker.getByTestId('clip-summary').filter({ hasText: '0:31 – 0:35' }).waitFor();
    await shoot(picker, 'picker-frame-file');
    const { ids } = await send(picker);
    const job = await relayJob(ids[0]!);
    expect(job.input.video.endSec! - job.input.video.startSec!).toBeCloseTo(4, 1);
    const popup = await openPopup(setup.session);
    const result = await probeVideoBytes(await resultOf(popup, ids[0]!));
    expect(result.durationSec).toBeGreaterThan(3.8);
    expect(result.durationSec).toBeLessThan(4.3);
    await popup.close();
    await picker.close();
  });
});
