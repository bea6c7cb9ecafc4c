import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  type ConnectedSetup,
  fixture,
  ON_VIDEO,
  openPicker,
  openPopup,
  openToolbarPopup,
  screenshot,
  type ToolbarPopup,
  type UiLanguage,
  useConnectedSetup,
} from './support/harness.js';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

type Violation = { id: string; impact: string; nodes: Array<{ target: string[]; failureSummary: string }> };

/**
 * axe-core's violations on a page as drawn now. The source goes in through DevTools evaluation,
 * which the extension pages' script policy does not block (it would block a script tag).
 */
async function axeViolations(page: Pick<ToolbarPopup, 'evaluate'>): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate<Violation[]>(
    "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations)",
  );
  return violations.map(
    (v) =>
      `${v.id} (${v.impact}): ${v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`).join('; ')}`,
  );
}

/** Checks a page in light and dark, with a screenshot of each. */
async function checkBothThemes(page: Page, name: string): Promise<void> {
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    await screenshot(page, `${name}-${colorScheme}`);
    expect(
      await axeViolations({ evaluate: (expression) => page.evaluate(expression) }),
      `${name} in ${colorScheme}`,
    ).toEqual([]);
  }
}

/** A job that stays waiting upstream for the whole file, made through the relay's API. */
async function startWaitingJob(setup: ConnectedSetup): Promise<string> {
  const upload = async (kind: string, name: string, type: string) => {
    const response = await fetch(`${setup.relay.url}/v1/uploads?kind=${kind}&filename=${name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${setup.relay.token}`, 'content-type': type },
      body: readFileSync(fixture(name)),
    });
    if (response.status !== 201)
      throw new Error(`upload ${name}: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { id: string }).id;
  };
  const video = await upload('video', 'talking-640x640-25fps-3s.mp4', 'video/mp4');
  const audio = await upload('audio', 'speech-4s.wav', 'audio/wav');
  const response = await fetch(`${setup.relay.url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${setup.relay.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      video: { uploadId: video },
      audio: { uploadId: audio },
      title: 'Quarterly update',
    }),
  });
  if (response.status !== 201) throw new Error(`job: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

/** The page is drawn in the session's language: `<html lang>` and its title say so. */
async function expectLanguage(page: Page, language: UiLanguage, title: string): Promise<void> {
  expect(await page.evaluate(() => document.documentElement.lang)).toBe(language);
  expect(await page.title()).toBe(title);
}

describe.each(['en', 'zh-CN'] as const)(
  'accessibility (axe-core) of options, popup and picker in light and dark, in %s',
  (language) => {
    let setup: ConnectedSetup;
    // Jobs take 10 minutes here: a job stays waiting or running while the popup is checked.
    useConnectedSetup(
      async () => ({ simJobMs: 600_000, language }),
      (s) => {
        setup = s;
      },
    );

    it('options page, connected', async () => {
      const { options, session } = setup;
      await options.getByTestId('connection-ok').waitFor();
      await expectLanguage(options, language, session.t('options.pageTitle'));
      await checkBothThemes(options, `a11y-options-${language}`);
    });

    it('popup with a job in progress', async () => {
      const { session } = setup;
      const id = await startWaitingJob(setup);
      const popup = await openPopup(session);
      await popup.locator(`[data-job-id="${id}"]`).waitFor();
      await popup.getByText(session.t('popup.live'), { exact: true }).waitFor();
      await expectLanguage(popup, language, session.t('popup.pageTitle'));
      await checkBothThemes(popup, `a11y-popup-running-${language}`);
      await popup.close();
    });

    it('popup listing the videos of the page, reached and opened by keyboard', async () => {
      const { session } = setup;
      const page = await session.context.newPage();
      await page.goto(`${setup.pages.url}/several`);
      await page.waitForFunction(() =>
        [...document.querySelectorAll('video')].every((v) => v.readyState >= 2),
      );
      const popup = await openToolbarPopup(session, page);
      await popup.waitFor(`document.querySelectorAll('[data-testid="page-video"]').length === 3`);
      expect(await popup.evaluate<string>('document.documentElement.lang')).toBe(language);
      for (const colorScheme of ['light', 'dark'] as const) {
        await popup.colorScheme(colorScheme);
        await popup.screenshot(`a11y-popup-page-videos-${language}-${colorScheme}`);
        expect(await axeViolations(popup), `popup page videos in ${colorScheme}`).toEqual([]);
      }
      // Tab reaches the first video (after the header's buttons); Enter opens the picker on it.
      for (let presses = 0; presses < 12; presses++) {
        if (await popup.evaluate<boolean>(`document.activeElement?.dataset.testid === 'page-video'`)) break;
        await popup.press('Tab');
      }
      expect(await popup.evaluate<string>('document.activeElement.textContent')).toContain('640×480');
      const pickerOpened = session.context.waitForEvent('page', {
        predicate: (p) => p.url().includes('/picker.html'),
      });
      await popup.press('Enter');
      const picker = await pickerOpened;
      await picker.getByTestId('video-meta').filter({ hasText: '640×480' }).waitFor();
      await picker.close();
      await popup.close();
      await page.close();
    });

    it('history page with a job in progress', async () => {
      const { session } = setup;
      const history = await session.context.newPage();
      await history.goto(`chrome-extension://${session.extensionId}/history.html`);
      await history.locator('li.job').first().waitFor();
      await expectLanguage(history, language, session.t('history.pageTitle'));
      await checkBothThemes(history, `a11y-history-${language}`);
      await history.close();
    });

    it('picker with a video and an audio chosen', async () => {
      const { session } = setup;
      const picker = await openPicker(session, `${setup.pages.url}/watch`, ON_VIDEO);
      await picker.setInputFiles('#audio-file', fixture('speech-4s.wav'));
      await picker
        .getByTestId('audio-status')
        .filter({ hasText: session.t('units.seconds', { n: '4.0' }) })
        .waitFor();
      // The face section with its frame slider (finding 11) is part of what axe checks.
      await picker.getByRole('slider', { name: session.t('picker.faceTime') }).waitFor();
      await expectLanguage(picker, language, session.t('picker.pageTitle'));
      await checkBothThemes(picker, `a11y-picker-${language}`);
      await picker.close();
    });
  },
);
