import { describe, expect, it } from 'vitest';
import {
  type ConnectedSetup,
  fixture,
  makeFragmentedTalk,
  OVERLAY_MENU_ID,
  openPicker,
  openPopup,
  relayJobs,
  screenshot,
  useConnectedSetup,
  VIDEO_MENU_ID,
} from './support/harness.js';

// The kinds of players people meet, each to a finished job: one relay and one browser for all.
let setup: ConnectedSetup;
const PLAYER_READY = 'window.playerReady === true';

describe('player gallery in headless Chromium against the relay', () => {
  useConnectedSetup(
    async () => ({ simJobMs: 300, media: { 'talk-fragmented.mp4': await makeFragmentedTalk() } }),
    async (started) => {
      setup = started;
      await started.options.close();
    },
  );

  /** Chooses the 4 s audio, sends, and follows the new job to done in the popup. */
  async function lipSyncToDone(picker: Awaited<ReturnType<typeof openPicker>>, name: string): Promise<void> {
    await picker.setInputFiles('#audio-file', fixture('speech-4s.wav'));
    await picker.getByTestId('audio-status').filter({ hasText: '4.0 s' }).waitFor();
    await screenshot(picker, `picker-${name}`);
    await picker.emulateMedia({ colorScheme: 'dark' });
    await screenshot(picker, `picker-${name}-dark`);
    await picker.emulateMedia({ colorScheme: 'light' });
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
  }

  it('a whole file the page plays from a blob: address is read by the page and uploaded', async () => {
    const picker = await openPicker(setup.session, `${setup.pages.url}/blob`, VIDEO_MENU_ID, {
      ready: PLAYER_READY,
    });
    expect(await picker.textContent('body')).toContain('a file inside the page');
    await lipSyncToDone(picker, 'blob');
  });

  it('a Media Source player inside a shadow root, under its overlay, is found and recorded', async () => {
    const picker = await openPicker(setup.session, `${setup.pages.url}/shadow?repeat=2`, OVERLAY_MENU_ID, {
      ready: PLAYER_READY,
    });
    await picker.getByTestId('record-hint').waitFor();
    expect(await picker.getByTestId('video-meta').textContent()).toContain('640×640');
    await lipSyncToDone(picker, 'shadow');
  });

  it('a Media Source player in an iframe is recorded from inside that frame', async () => {
    const inner = encodeURIComponent('/mse?repeat=2&title=Embedded');
    const picker = await openPicker(setup.session, `${setup.pages.url}/frame?inner=${inner}`, VIDEO_MENU_ID, {
      ready: PLAYER_READY,
      inFrame: true,
    });
    await picker.getByTestId('record-hint').waitFor();
    // The frame comes from the element itself, so a video in a frame gets one too.
    await picker.getByAltText('Preview frame of the chosen video').waitFor();
    await lipSyncToDone(picker, 'iframe-stream');
  });
});
