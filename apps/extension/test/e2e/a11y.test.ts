import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  type ConnectedSetup,
  fixture,
  openPicker,
  openPopup,
  screenshot,
  useConnectedSetup,
  VIDEO_MENU_ID,
} from './support/harness.js';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

type Violation = { id: string; impact: string; nodes: Array<{ target: string[]; failureSummary: string }> };

/**
 * axe-core's violations on a page as drawn now. The source goes in through DevTools evaluation,
 * which the extension pages' script policy does not block (it would block a script tag).
 */
async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = (await page.evaluate(() =>
    (
      globalThis as unknown as { axe: { run: (c: Document, o: object) => Promise<{ violations: unknown }> } }
    ).axe
      .run(document, { resultTypes: ['violations'] })
      .then((r) => r.violations),
  )) as Violation[];
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
    expect(await axeViolations(page), `${name} in ${colorScheme}`).toEqual([]);
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

let setup: ConnectedSetup;

describe('accessibility (axe-core) of options, popup and picker in light and dark', () => {
  // Jobs take 10 minutes here: a job stays waiting or running while the popup is checked.
  useConnectedSetup(
    async () => ({ simJobMs: 600_000 }),
    (s) => {
      setup = s;
    },
  );

  it('options page, connected', async () => {
    const options = setup.options;
    await options.getByTestId('connection-ok').waitFor();
    await checkBothThemes(options, 'a11y-options');
  });

  it('popup with a job in progress', async () => {
    const id = await startWaitingJob(setup);
    const popup = await openPopup(setup.session);
    await popup.locator(`[data-job-id="${id}"]`).waitFor();
    await popup.getByText('Live', { exact: true }).waitFor();
    await checkBothThemes(popup, 'a11y-popup-running');
    await popup.close();
  });

  it('picker with a video and an audio chosen', async () => {
    const picker = await openPicker(setup.session, `${setup.pages.url}/watch`, VIDEO_MENU_ID);
    await picker.setInputFiles('#audio-file', fixture('speech-4s.wav'));
    await picker.getByTestId('audio-status').filter({ hasText: '4.0 s' }).waitFor();
    await checkBothThemes(picker, 'a11y-picker');
    await picker.close();
  });
});
