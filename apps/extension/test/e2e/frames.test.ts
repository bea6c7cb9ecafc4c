import { describe, expect, it } from 'vitest';
import {
  type ConnectedSetup,
  fixture,
  frameIdOf,
  makeFragmentedTalk,
  ON_VIDEO,
  openPicker,
  openPopup,
  relayJobs,
  screenshot,
  setSiteAccess,
  useConnectedSetup,
} from './support/harness.js';

// A player embedded from another site (a cross-origin iframe) with only the access a member has
// granted: the relay's site, which is also the page's (127.0.0.1, standing in for the right-click's
// activeTab grant), and not the player's (localhost). Its own relay and browser.
let setup: ConnectedSetup;
const PLAYER_READY = 'window.playerReady === true';
const PLAYER_SITE = 'http://localhost/*';

describe('an embedded player from another site, with only the access a member grants', () => {
  useConnectedSetup(
    async () => ({
      simJobMs: 300,
      media: { 'talk-fragmented.mp4': await makeFragmentedTalk() },
      sites: { granted: ['http://127.0.0.1/*'], withheld: [PLAYER_SITE] },
    }),
    async (started) => {
      setup = started;
      await started.options.close();
    },
  );

  it('asks for the player’s site in the picker, then records the video inside that frame to a finished job', async () => {
    const innerUrl = `${setup.pages.url.replace('127.0.0.1', 'localhost')}/mse?repeat=2&title=Embedded`;
    const pageUrl = `${setup.pages.url}/frame?inner=${encodeURIComponent(innerUrl)}`;
    const picker = await openPicker(setup.session, pageUrl, ON_VIDEO, {
      ready: PLAYER_READY,
      inFrame: true,
      // The browser names the clicked frame; the test can learn its id only while it may script it.
      frameId: async (page) => {
        await setSiteAccess(setup.session, PLAYER_SITE, true);
        const id = await frameIdOf(setup.session, page.url(), innerUrl);
        await setSiteAccess(setup.session, PLAYER_SITE, false);
        return id;
      },
    });
    const notice = picker.getByTestId('frame-access');
    await notice.waitFor();
    expect(await notice.textContent()).toContain('embedded from localhost');
    await picker.setInputFiles('#audio-file', fixture('speech-4s.wav'));
    await picker.getByTestId('audio-status').filter({ hasText: '4.0 s' }).waitFor();
    // Nothing can be sent yet, and nothing claims the page was closed.
    expect(await picker.getByRole('button', { name: /^Lip-sync/ }).isDisabled()).toBe(true);
    expect(await picker.textContent('body')).not.toContain('closed');
    await screenshot(picker, 'picker-frame-access');
    await picker.emulateMedia({ colorScheme: 'dark' });
    await screenshot(picker, 'picker-frame-access-dark');
    await picker.emulateMedia({ colorScheme: 'light' });

    // The member allows the site: headless Chromium shows no prompt, so the grant the prompt's
    // "Allow" leaves is made first; the picker's request then resolves at once.
    await setSiteAccess(setup.session, PLAYER_SITE, true);
    await picker.getByRole('button', { name: 'Allow access to localhost' }).click();
    await picker
      .getByTestId('frame-access')
      .waitFor({ state: 'detached', timeout: 10_000 })
      .catch(async (error) => {
        throw new Error(`${await picker.getByTestId('frame-access').textContent()}: ${String(error)}`);
      });
    await picker.getByTestId('record-hint').waitFor();
    await picker.getByAltText('Preview frame of the chosen video').waitFor();
    expect(await picker.getByTestId('video-meta').textContent()).toContain('640×640');

    const before = (await relayJobs(setup.relay)).length;
    await picker.getByRole('button', { name: /^Lip-sync/ }).click();
    await picker.getByTestId('submitted').waitFor({ timeout: 120_000 });
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
