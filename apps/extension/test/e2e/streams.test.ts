import { readFile } from 'node:fs/promises';
import { makeAudio } from '@retalk/simulator/media';
import { describe, expect, it } from 'vitest';
import {
  type ExtensionSession,
  fixture,
  makeFragmentedTalk,
  ON_VIDEO,
  openPicker,
  openPopup,
  type RelayProcess,
  relayJobs,
  screenshot,
  type startPageServer,
  useConnectedSetup,
} from './support/harness.js';
import { probeVideoBytes } from './support/media.js';

// Streamed video (Media Source, as the big sites play it): the picker records the chosen clip
// from the page's own element, in real time, and uploads the recording. One relay, one browser.

let relay: RelayProcess;
let pages: Awaited<ReturnType<typeof startPageServer>>;
let session: ExtensionSession;
const PLAYER_READY = 'window.playerReady === true';

describe('streamed (MSE) videos in headless Chromium against the relay', () => {
  useConnectedSetup(
    async () => ({ simJobMs: 500, media: { 'talk-fragmented.mp4': await makeFragmentedTalk() } }),
    async (setup) => {
      ({ relay, pages, session } = setup);
      await setup.options.close();
    },
  );

  it('the README walk-through: 20 s of a 60 s stream with the sample voice, recorded in real time, to a finished job', async () => {
    // Steps 3–4: the 60 s stream with play/pause, paused at 0:12, right-clicked.
    const picker = await openPicker(session, `${pages.url}/mse?repeat=20&controls=1&at=12`, ON_VIDEO, {
      ready: PLAYER_READY,
    });
    const page = session.context.pages().find((p) => p.url().includes('/mse?repeat=20'))!;
    expect(await page.evaluate(() => document.querySelector('video')!.controls)).toBe(true);
    await picker.getByTestId('record-hint').filter({ hasText: 'Recording runs in real time' }).waitFor();
    expect(await picker.getByTestId('video-meta').textContent()).toContain('1 min');
    // Step 5: the voice `pnpm samples --voice-seconds 20` writes (AAC in M4A, converted here).
    const voice = await readFile(await makeAudio({ container: 'm4a', codec: 'aac', durationSec: 20 }));
    await picker.setInputFiles('#audio-file', { name: 'voice.m4a', mimeType: 'audio/mp4', buffer: voice });
    await picker
      .getByTestId('audio-status')
      .filter({ hasText: 'voice.m4a (converted to WAV) · 20' })
      .waitFor();
    await picker
      .getByTestId('clip-summary')
      .filter({ hasText: /^0:12 – 0:32/ })
      .waitFor();
    expect(await picker.getByTestId('cost').textContent()).toContain('20 s');
    // Step 6: the button names the cost; the bar counts the recording against the clip.
    await picker.getByRole('button', { name: 'Lip-sync (20 s)' }).click();
    await picker
      .getByTestId('recording')
      .filter({ hasText: /Recording 0:0\d \/ 0:20/ })
      .waitFor();
    await picker.getByTestId('submitted').waitFor({ timeout: 90_000 });
    const [job] = await relayJobs(relay);
    const popup = await openPopup(session);
    const card = popup.locator(`li[data-job-id="${job!.id}"][data-status="succeeded"]`);
    await card.waitFor({ timeout: 60_000 });
    await card.getByRole('button', { name: 'Preview' }).click();
    const href = (await card.locator('a.result-link').getAttribute('href'))!;
    const result = await probeVideoBytes(new Uint8Array(await (await fetch(href)).arrayBuffer()));
    expect(result.durationSec).toBeGreaterThan(19);
    expect(result.durationSec).toBeLessThan(21);
    await popup.close();
    await picker.close();
    await page.close();
  });

  it('records the chosen clip from the page’s own player, uploads it and follows the job to done', async () => {
    // A 12 s stream standing at 0:02 when the member right-clicks.
    const picker = await openPicker(session, `${pages.url}/mse?repeat=4&at=2`, ON_VIDEO, {
      ready: PLAYER_READY,
    });
    await picker.getByTestId('record-hint').waitFor();
    // The face frame is the element's own picture at the video's resolution, not a tab screenshot.
    const preview = picker.getByAltText('Preview frame of the chosen video');
    await preview.waitFor();
    expect(
      await preview.evaluate((img: HTMLImageElement) => [
        img.src.slice(0, 15),
        img.naturalWidth,
        img.naturalHeight,
      ]),
    ).toEqual(['data:image/jpeg', 640, 640]);
    expect(await picker.getByTestId('record-hint').textContent()).toContain('Recording runs in real time');
    // Before the audio: 10 s from the current position.
    expect(await picker.getByTestId('clip-summary').textContent()).toContain('0:02 – 0:12');

    // The audio's length sets the clip's length: 4 s from 0:02.
    await picker.setInputFiles('#audio-file', fixture('speech-4s.wav'));
    await picker.getByTestId('audio-status').filter({ hasText: '4.0 s' }).waitFor();
    await picker.getByTestId('clip-summary').filter({ hasText: '0:02 – 0:06' }).waitFor();
    // The keyboard moves the start: five steps of 0.1 s.
    await picker.locator('#clip-start').focus();
    for (let i = 0; i < 5; i++) await picker.keyboard.press('ArrowRight');
    await picker.getByTestId('clip-summary').filter({ hasText: '0:02.5 – 0:06' }).waitFor();
    expect(await picker.getByTestId('cost').textContent()).toContain('3.5 s');
    await screenshot(picker, 'picker-record-ready');
    await picker.emulateMedia({ colorScheme: 'dark' });
    await screenshot(picker, 'picker-record-ready-dark');
    await picker.emulateMedia({ colorScheme: 'light' });

    const jobsBefore = (await relayJobs(relay)).length;
    const started = Date.now();
    await picker.getByRole('button', { name: /^Lip-sync/ }).click();
    const bar = picker.getByTestId('recording');
    await bar.filter({ hasText: /Recording 0:0[1-3] \/ 0:03\.5/ }).waitFor();
    await screenshot(picker, 'picker-recording');
    await picker.emulateMedia({ colorScheme: 'dark' });
    await screenshot(picker, 'picker-recording-dark');
    await picker.emulateMedia({ colorScheme: 'light' });
    await picker.getByTestId('submitted').waitFor({ timeout: 60_000 });
    console.info(`3.5 s clip recorded, uploaded and started in ${Date.now() - started} ms`);
    await screenshot(picker, 'picker-record-submitted');

    const jobs = await relayJobs(relay);
    expect(jobs.length).toBe(jobsBefore + 1);
    const job = jobs[0]!;
    // The relay bills the shorter input: the 3.5 s recording, not the 4 s audio.
    expect(job.estimatedSeconds).toBeGreaterThanOrEqual(3);
    expect(job.estimatedSeconds).toBeLessThanOrEqual(4);

    const popup = await openPopup(session);
    const card = popup.locator(`li[data-job-id="${job.id}"][data-status="succeeded"]`);
    await card.waitFor({ timeout: 60_000 });
    await card.getByRole('button', { name: 'Preview' }).click();
    const href = (await card.locator('a.result-link').getAttribute('href'))!;
    // The simulator hands back the input video: the recording itself.
    const recorded = await probeVideoBytes(new Uint8Array(await (await fetch(href)).arrayBuffer()));
    expect(recorded).toMatchObject({ width: 640, height: 640 });
    expect(recorded.durationSec).toBeGreaterThanOrEqual(3);
    expect(recorded.durationSec).toBeLessThanOrEqual(4);
    await popup.close();
    await picker.close();
  });

  it('measures audio by URL, and stops a recording on Cancel: nothing is uploaded or spent, the page’s player is paused', async () => {
    const pageUrl = `${pages.url}/mse?repeat=4&title=Cancel`;
    const picker = await openPicker(session, pageUrl, ON_VIDEO, { ready: PLAYER_READY });
    // Audio by its address: its length is known before anything is spent (it once read as "—").
    await picker.locator('#audio-url').fill(`${pages.url}/media/speech-5s.mp3`);
    await picker.getByRole('button', { name: 'Use URL' }).click();
    await picker
      .getByTestId('audio-status')
      .filter({ hasText: /· 5\.[01] s/ })
      .waitFor();
    await picker.getByTestId('clip-summary').filter({ hasText: '0:00 – 0:05' }).waitFor();
    const jobsBefore = (await relayJobs(relay)).length;
    await picker.getByRole('button', { name: /^Lip-sync/ }).click();
    await picker
      .getByTestId('recording')
      .filter({ hasText: /Recording 0:0[1-4] \// })
      .waitFor();
    await picker.getByRole('button', { name: 'Cancel' }).click();
    await picker.getByTestId('canceled').waitFor();
    expect(await picker.getByRole('button', { name: /^Lip-sync/ }).isEnabled()).toBe(true);
    expect((await relayJobs(relay)).length).toBe(jobsBefore);
    const page = session.context.pages().find((p) => p.url() === pageUrl)!;
    await page.waitForFunction(() => document.querySelector('video')!.paused);
    await picker.close();
  });

  it('explains a protected (DRM) stream before anything is spent', async () => {
    const picker = await openPicker(session, `${pages.url}/mse?protect=1&title=Protected`, ON_VIDEO, {
      ready: PLAYER_READY,
    });
    await picker.getByTestId('stream-explainer').waitFor();
    expect(await picker.getByTestId('stream-explainer').textContent()).toContain('protected (DRM)');
    await picker.setInputFiles('#audio-file', fixture('speech-4s.wav'));
    await picker.getByTestId('audio-status').filter({ hasText: '4.0 s' }).waitFor();
    expect(await picker.getByRole('button', { name: /^Lip-sync/ }).isDisabled()).toBe(true);
    await screenshot(picker, 'picker-protected');
    await picker.emulateMedia({ colorScheme: 'dark' });
    await screenshot(picker, 'picker-protected-dark');
    await picker.close();
  });
});
