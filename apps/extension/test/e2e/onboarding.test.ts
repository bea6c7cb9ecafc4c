import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  type ExtensionSession,
  launchExtension,
  ON_VIDEO,
  openPicker,
  type RelayProcess,
  startPageServer,
  startRelay,
} from './support/harness.js';

describe('a new member: picker before connecting, then the options page', () => {
  let relay: RelayProcess;
  let pages: Awaited<ReturnType<typeof startPageServer>>;
  let session: ExtensionSession;
  beforeAll(async () => {
    relay = await startRelay();
    pages = await startPageServer();
    session = await launchExtension();
  });
  afterAll(async () => {
    await session?.close();
    await pages?.close();
    await relay?.stop();
  });

  it('carries on in the open picker once connected, and asks to pin the toolbar button (findings 22, 5)', async () => {
    const { t } = session;
    const picker = await openPicker(session, `${pages.url}/watch`, ON_VIDEO);
    await picker.getByText(t('picker.notConnectedBefore')).waitFor();

    const options = session.firstRunOptions;
    await options.getByLabel(t('options.relayUrl')).fill(relay.url);
    await options.getByLabel(t('options.token')).fill(relay.token);
    await options.getByRole('button', { name: t('options.save') }).click();
    await options.getByTestId('connection-ok').waitFor();
    // Chrome keeps a new extension's button in the Extensions menu: the success says how to pin it.
    await options.getByTestId('pin-hint').waitFor();

    // The picker that was open all along now knows the relay: no second right-click.
    await picker.getByText(t('picker.notConnectedBefore')).waitFor({ state: 'detached' });
    await picker.getByTestId('cost').getByText(t('options.noBudgetLimit'), { exact: false }).waitFor();
    await picker.close();
  });
});
