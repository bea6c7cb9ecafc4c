import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  type ConnectedSetup,
  fixture,
  makeFragmentedTalk,
  makeHlsStream,
  ON_PAGE,
  ON_VIDEO,
  openPicker,
  openPopup,
  relayJobs,
  screenshot,
  useConnectedSetup,
} from './support/harness.js';
import { convertAudioFixture, makeToneWav, probeVideoBytes } from './support/media.js';

// The kinds of players people meet, each to a finished job: one relay and one browser for all.
let setup: ConnectedSetup;
const PLAYER_READY = 'window.playerReady === true';

describe('player gallery in headless Chromium against the relay', () => {
  useConnectedSetup(
    async () => {
      const fragmented = await makeFragmentedTalk();
      // A 72 s HLS stream: the 3 s clip 24 times, as 3 s fragmented-MP4 segments.
      return {
        simJobMs: 300,
        media: {
          'talk-fragmented.mp4': fragmented,
          ...makeHlsStream(fragmented, { count: 24 }),
          // Its playlists answer once (signed addresses that expire): the player has them, the extension not.
          ...makeHlsStream(fragmented, { name: 'hls-once', count: 4 }),
        },
      };
    },
    async (started) => {
      setup = started;
      await started.options.close();
    },
  );

  /** Chooses the 4 s audio, sends, and follows the new job to done in the popup; returns its result's bytes. */
  async function lipSyncToDone(
    picker: Page,
    name: string,
    hooks: {
      /** Another audio than the 4 s speech, and how its length reads. */
      audio?: { name: string; mimeType: string; buffer: Buffer; reads: string | RegExp };
      beforeSend?: () => Promise<void>;
      afterSubmit?: () => Promise<void>;
    } = {},
  ): Promise<Uint8Array> {
    await picker.setInputFiles('#audio-file', hooks.audio ?? fixture('speech-4s.wav'));
    await picker
      .getByTestId('audio-status')
      .filter({ hasText: hooks.audio?.reads ?? '4.0 s' })
      .waitFor();
    await hooks.beforeSend?.();
    await screenshot(picker, `picker-${name}`);
    await picker.emulateMedia({ colorScheme: 'dark' });
    await screenshot(picker, `picker-${name}-dark`);
    await picker.emulateMedia({ colorScheme: 'light' });
    const before = (await relayJobs(setup.relay)).length;
    const clicked = Date.now();
    await picker.getByRole('button', { name: /^Lip-sync/ }).click();
    await picker.getByTestId('submitted').waitFor({ timeout: 120_000 });
    console.info(
      `${name}: the video reached the relay and the job started ${Date.now() - clicked} ms after the click`,
    );
    await hooks.afterSubmit?.();
    const jobs = await relayJobs(setup.relay);
    expect(jobs.length).toBe(before + 1);
    const popup = await openPopup(setup.session);
    const card = popup.locator(`li[data-job-id="${jobs[0]!.id}"][data-status="succeeded"]`);
    // The relay may re-encode the clip (an HLS clip starting between key frames): minutes under load.
    await card.waitFor({ timeout: 240_000 });
    await card.getByRole('button', { name: 'Preview' }).click();
    const href = (await card.locator('a.result-link').getAttribute('href'))!;
    const result = new Uint8Array(await (await fetch(href)).arrayBuffer());
    await popup.close();
    await picker.close();
    return result;
  }

  it('a whole file the page plays from a blob: address is read by the page and uploaded', async () => {
    const picker = await openPicker(setup.session, `${setup.pages.url}/blob`, ON_VIDEO, {
      ready: PLAYER_READY,
    });
    expect(await picker.textContent('body')).toContain('a file inside the page');
    await lipSyncToDone(picker, 'blob');
  });

  it('a Media Source player inside a shadow root, under its overlay, is found and recorded', async () => {
    const picker = await openPicker(setup.session, `${setup.pages.url}/shadow?repeat=2`, ON_PAGE, {
      ready: PLAYER_READY,
    });
    await picker.getByTestId('record-hint').waitFor();
    expect(await picker.getByTestId('video-meta').textContent()).toContain('640×640');
    await lipSyncToDone(picker, 'shadow');
  });

  it('a Media Source player in an iframe is recorded from inside that frame', async () => {
    const inner = encodeURIComponent('/mse?repeat=2&title=Embedded');
    const picker = await openPicker(setup.session, `${setup.pages.url}/frame?inner=${inner}`, ON_VIDEO, {
      ready: PLAYER_READY,
      inFrame: true,
    });
    await picker.getByTestId('record-hint').waitFor();
    // The frame comes from the element itself, so a video in a frame gets one too.
    await picker.getByAltText('Preview frame of the chosen video').waitFor();
    await lipSyncToDone(picker, 'iframe-stream');
  });

  it('an HLS stream played by hls.js: just the clip’s segments are fetched by the page and cut in the browser', async () => {
    // The player stands at 0:31.2 of the 72 s stream (between key frames); the clip is 30 s from there.
    const picker = await openPicker(setup.session, `${setup.pages.url}/hls?at=31.2`, ON_VIDEO, {
      ready: PLAYER_READY,
    });
    await picker.getByTestId('hls-hint').waitFor();
    expect(await picker.getByTestId('video-meta').textContent()).toContain('640×640');
    // Frames on the track from one segment at each place, the page's player unmoved.
    await picker.getByTestId('clip-thumbnails').locator('img').nth(7).waitFor();
    const page = setup.session.context.pages().find((p) => p.url().includes('/hls?at=31.2'))!;
    expect(await page.evaluate(() => document.querySelector('video')!.currentTime)).toBeCloseTo(31.2, 1);
    // A 30 s audio: the clip follows its length.
    const audio = {
      name: 'tone-30s.wav',
      mimeType: 'audio/wav',
      buffer: Buffer.from(makeToneWav(30)),
      reads: '30 s',
    };
    const result = await lipSyncToDone(picker, 'hls', {
      audio,
      beforeSend: async () => {
        await picker.getByTestId('clip-summary').filter({ hasText: '0:31.2 – 1:01.2' }).waitFor();
        expect(await picker.getByTestId('cost').textContent()).toContain('30 s');
      },
      afterSubmit: async () => {
        // Fetched and cut, not recorded, and no fallback to recording.
        await picker.locator('[data-step="cut-video"]').waitFor();
        expect(await picker.getByTestId('recording').count()).toBe(0);
        expect(await picker.locator('[data-step="fetch-video"]').textContent()).toContain(
          'Fetching the clip',
        );
        // Copied from the segments without re-encoding; the relay trims the exact start.
        expect(await picker.locator('[data-step="cut-video"]').textContent()).toMatch(
          /^Cut without re-encoding from the key frame at 0:(29|30|31)(\.\d)?; the relay trims the exact start\.$/,
        );
        const [job] = await relayJobs(setup.relay);
        const video = (job as unknown as { input: { video: Record<string, number | undefined> } }).input
          .video;
        expect(video.sourceOffsetSec! + video.startSec!).toBeCloseTo(31.2, 1);
        expect(video.endSec! - video.startSec!).toBeCloseTo(30, 1);
      },
    });
    // The simulator's result is the uploaded video with the audio: the 30 s clip, at the stream's size.
    const clip = await probeVideoBytes(result);
    expect(clip).toMatchObject({ format: 'MP4', width: 640, height: 640 });
    expect(clip.durationSec).toBeGreaterThan(29.8);
    expect(clip.durationSec).toBeLessThan(30.2);
  }, 360_000);

  it('an HLS stream whose playlist the site no longer hands out is recorded from the page instead', async () => {
    const picker = await openPicker(
      setup.session,
      `${setup.pages.url}/hls?src=hls-once-master.m3u8&title=Signed`,
      ON_VIDEO,
      { ready: PLAYER_READY },
    );
    await picker.getByTestId('hls-hint').waitFor();
    await lipSyncToDone(picker, 'hls-fallback', {
      afterSubmit: async () => {
        expect(await picker.locator('[data-step="fetch-video"]').textContent()).toMatch(
          /HTTP 403.*Recording the clip from the page instead/,
        );
        expect(await picker.getByTestId('recording').textContent()).toContain('/ 0:04');
      },
    });
  });

  it('audio in M4A, Ogg/Opus, WebM or FLAC is converted to WAV in the browser and reaches a finished job', async () => {
    const picker = await openPicker(setup.session, `${setup.pages.url}/watch?title=Formats`, ON_VIDEO);
    const audioOf = async (to: 'm4a' | 'ogg' | 'webm' | 'flac', mimeType: string) => ({
      name: `speech.${to}`,
      mimeType,
      buffer: Buffer.from(await convertAudioFixture(fixture('speech-4s.wav'), to)),
      // AAC and Opus pad the start a little.
      reads: new RegExp(`speech\\.${to} \\(converted to WAV\\) · 4\\.[01] s`),
    });
    for (const [to, type] of [
      ['m4a', 'audio/mp4'],
      ['ogg', 'audio/ogg'],
      ['webm', 'audio/webm'],
    ] as const) {
      const audio = await audioOf(to, type);
      await picker.setInputFiles('#audio-file', audio);
      await picker.getByTestId('audio-status').filter({ hasText: audio.reads }).waitFor();
      expect(await picker.getByTestId('media-problems').count()).toBe(0);
    }
    await lipSyncToDone(picker, 'audio-flac', { audio: await audioOf('flac', 'audio/flac') });
  });

  it('records the voice from the microphone with a level meter, plays it back, retakes, and uses it', async () => {
    const picker = await openPicker(setup.session, `${setup.pages.url}/watch?title=Voice`, ON_VIDEO);
    const recordTake = async (button: string) => {
      await picker.getByRole('button', { name: button }).click();
      // The fake microphone beeps: the meter moves, and the clock passes 2 s (the provider's minimum).
      await picker.waitForFunction(() => {
        const meter = document.querySelector<HTMLMeterElement>('[data-testid="mic-level"]');
        return meter !== null && meter.value > 0.01;
      });
      await picker.getByTestId('mic-clock').filter({ hasText: 'Recording 0:03' }).waitFor();
      await screenshot(picker, 'picker-mic-recording');
      await picker.getByRole('button', { name: 'Stop' }).click();
      await picker.getByTestId('mic-playback').waitFor();
    };
    await recordTake('Record from the microphone');
    await recordTake('Record again');
    // The take plays back in the picker.
    const playable = await picker.getByTestId('mic-playback').evaluate(async (audio: HTMLAudioElement) => {
      if (audio.readyState < 1)
        await new Promise((done) => audio.addEventListener('loadedmetadata', done, { once: true }));
      return audio.error === null;
    });
    expect(playable).toBe(true);
    await screenshot(picker, 'picker-mic-recorded');
    await picker.emulateMedia({ colorScheme: 'dark' });
    await screenshot(picker, 'picker-mic-recorded-dark');
    await picker.emulateMedia({ colorScheme: 'light' });
    await picker.getByRole('button', { name: 'Use this recording' }).click();
    await picker
      .getByTestId('audio-status')
      .filter({ hasText: /microphone\.(webm|ogg|m4a) \(converted to WAV\) · [34]\.\d s/ })
      .waitFor();
    const before = (await relayJobs(setup.relay)).length;
    await picker.getByRole('button', { name: /^Lip-sync/ }).click();
    await picker.getByTestId('submitted').waitFor({ timeout: 60_000 });
    const jobs = await relayJobs(setup.relay);
    expect(jobs.length).toBe(before + 1);
    const popup = await openPopup(setup.session);
    await popup
      .locator(`li[data-job-id="${jobs[0]!.id}"][data-status="succeeded"]`)
      .waitFor({ timeout: 60_000 });
    await popup.close();
    await picker.close();
  });
});
