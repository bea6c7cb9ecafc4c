import { useEffect, useState } from 'preact/hooks';
import { browser } from 'wxt/browser';
import { type ConnectLinkTarget, connectWithLink, parseConnectLink } from '../lib/connect.js';
import { toErrorMessage } from '../lib/errors.js';
import { t } from '../lib/i18n.js';
import { requestRelayPermission } from '../lib/relay-connection.js';
import { claimedConnectCodeItem } from '../lib/settings.js';

type State =
  | { step: 'offer' }
  | { step: 'busy' }
  | { step: 'done'; name: string }
  | { step: 'failed'; text: string };

/**
 * When the popup opens over a relay's connect page (`…/connect#code=rtc_…`), offers to connect
 * this browser with it: one click, no token to paste. Clicking the toolbar button grants
 * `activeTab`, which is what lets the popup read that tab's address.
 */
export function ConnectOffer(props: {
  connected: boolean;
  onConnected: () => void;
  /** Told when a link to offer was found (the popup then drops its generic "Connect…" notice). */
  onFound: () => void;
}) {
  const [link, setLink] = useState<ConnectLinkTarget | undefined>();
  const [state, setState] = useState<State>({ step: 'offer' });

  useEffect(() => {
    void Promise.all([
      browser.tabs.query({ active: true, lastFocusedWindow: true }),
      claimedConnectCodeItem.getValue(),
    ])
      .then(([tabs, claimed]) => {
        const found = parseConnectLink(tabs[0]?.url);
        // The link this browser connected with is spent: nothing to offer.
        if (found && found.code !== claimed) {
          setLink(found);
          props.onFound();
        }
      })
      .catch(() => undefined);
  }, []);

  if (!link) return null;
  const host = new URL(link.relayUrl).host;

  function connect() {
    if (!link) return;
    // The permission prompt needs this click's user gesture: ask before anything is awaited.
    const permission = requestRelayPermission(link.relayUrl).catch(() => false);
    setState({ step: 'busy' });
    void (async () => {
      try {
        const me = await connectWithLink(link, { permissionGranted: await permission });
        setState({ step: 'done', name: me.member.name });
        props.onConnected();
      } catch (error) {
        setState({ step: 'failed', text: toErrorMessage(error) });
      }
    })();
  }

  if (state.step === 'done') {
    return (
      <div class="notice ok" role="status" data-testid="connect-offer-done">
        <strong>{t('connectOffer.done', { host, name: state.name })}</strong> {t('connectOffer.doneNext')}
      </div>
    );
  }
  return (
    <div class="notice info" data-testid="connect-offer">
      <p>{props.connected ? t('connectOffer.replace', { host }) : t('connectOffer.offer', { host })}</p>
      <button type="button" class="primary" onClick={connect} disabled={state.step === 'busy'}>
        {state.step === 'busy' ? t('common.connecting') : t('connectOffer.button')}
      </button>
      {state.step === 'failed' && (
        <p role="alert" data-testid="connect-offer-error">
          {state.text}
        </p>
      )}
    </div>
  );
}
