import type { Me } from '@retalk/core/relay';
import { useEffect, useState } from 'preact/hooks';
import {
  connectWithLink,
  describeBudget,
  parseConnectionForm,
  parseConnectLink,
  providerName,
  testAndSave,
} from '../lib/connect.js';
import { createExtensionError, toErrorMessage } from '../lib/errors.js';
import { t } from '../lib/i18n.js';
import { createRelayConnection, requestRelayPermission } from '../lib/relay-connection.js';
import { settingsItem } from '../lib/settings.js';
import { formatNumber } from '../lib/time-format.js';
import { PinHint } from './pin-hint.js';

/** The input each field name of an error points at. */
const FIELD_INPUTS: Record<string, string> = {
  relayUrl: 'relay-url',
  token: 'token',
  connectLink: 'connect-link',
};

type Result = { tone: 'ok'; me: Me } | { tone: 'bad'; text: string; field?: string };

export function OptionsApp() {
  const [relayUrl, setRelayUrl] = useState('');
  const [token, setToken] = useState('');
  const [showToken, setShowToken] = useState(false);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Result | null>(null);
  const [connectLink, setConnectLink] = useState('');

  const [confirmingDisconnect, setConfirmingDisconnect] = useState(false);

  // Reopened while connected: say as whom, and whether the relay answers now (finding 21).
  useEffect(() => {
    void settingsItem.getValue().then(async (settings) => {
      if (!settings) return;
      setRelayUrl(settings.relayUrl);
      setToken(settings.token);
      setSaved(true);
      try {
        setResult({ tone: 'ok', me: await createRelayConnection(settings).client.me() });
      } catch (error) {
        setResult({
          tone: 'bad',
          text: t('options.notAnswering', {
            host: new URL(settings.relayUrl).host,
            reason: toErrorMessage(error),
          }),
        });
      }
    });
  }, []);

  // After an error, focus goes to the field at fault (finding 19).
  useEffect(() => {
    const id = result?.tone === 'bad' && result.field ? FIELD_INPUTS[result.field] : undefined;
    if (id) document.getElementById(id)?.focus();
  }, [result]);

  /**
   * Asks for the relay's origin, then connects (`connect` tests and saves) and shows the outcome.
   * Runs inside the click handler: the permission prompt needs its user gesture, so the request
   * goes out before anything is awaited.
   */
  function connectTo(relayAddress: string, connect: (permissionGranted: boolean) => Promise<Me>) {
    const permission = requestRelayPermission(relayAddress).catch(() => false);
    setBusy(true);
    setResult(null);
    void (async () => {
      try {
        const me = await connect(await permission);
        setSaved(true);
        setResult({ tone: 'ok', me });
      } catch (error) {
        showError(error);
      } finally {
        setBusy(false);
      }
    })();
  }

  function onSubmit(event: Event) {
    event.preventDefault();
    let settings: ReturnType<typeof parseConnectionForm>;
    try {
      settings = parseConnectionForm({ relayUrl, token });
    } catch (error) {
      showError(error);
      return;
    }
    connectTo(settings.relayUrl, (permissionGranted) => testAndSave(settings, { permissionGranted }));
  }

  function showError(error: unknown) {
    // A token the relay refused is the token field's fault, though the relay names no field.
    const field =
      (error as { field?: string }).field ??
      ((error as { code?: string }).code === 'auth' ? 'token' : undefined);
    setResult({ tone: 'bad', text: toErrorMessage(error), ...(field !== undefined && { field }) });
  }

  function onConnectLink(event: Event) {
    event.preventDefault();
    const link = parseConnectLink(connectLink);
    if (!link) {
      showError(createExtensionError('invalid_relay_url', t('errors.notALink'), { field: 'connectLink' }));
      return;
    }
    connectTo(link.relayUrl, async (permissionGranted) => {
      const me = await connectWithLink(link, { permissionGranted });
      // The form shows the connection the link made.
      const saved = await settingsItem.getValue();
      if (saved) {
        setRelayUrl(saved.relayUrl);
        setToken(saved.token);
      }
      setConnectLink('');
      return me;
    });
  }

  async function disconnect() {
    await settingsItem.removeValue();
    setConfirmingDisconnect(false);
    setSaved(false);
    setToken('');
    setResult(null);
  }

  /** The error's id for the field at fault, so a screen reader reads it with the field. */
  const describedBy = (field: string, hint?: string) =>
    [hint, badField === field ? 'connection-error' : undefined].filter(Boolean).join(' ') || undefined;

  const badField = result?.tone === 'bad' ? result.field : undefined;
  return (
    <main class="options">
      <h1>{t('options.title')}</h1>
      <p class="muted">
        {t('options.introBefore')} <code>rtk_</code>
        {t('options.introAfter')}
      </p>
      <form onSubmit={onConnectLink} class="card" noValidate>
        <div class="field">
          <label for="connect-link">{t('options.connectLink')}</label>
          <div class="row">
            <input
              id="connect-link"
              name="connectLink"
              class="grow"
              type="url"
              placeholder="https://relay.example.com/connect#code=rtc_…"
              autoComplete="off"
              value={connectLink}
              aria-invalid={badField === 'connectLink'}
              aria-describedby={describedBy('connectLink', 'connect-link-hint')}
              onInput={(e) => setConnectLink(e.currentTarget.value)}
            />
            <button type="submit" class="primary" disabled={busy}>
              {t('options.connect')}
            </button>
          </div>
          <div id="connect-link-hint" class="hint">
            {t('options.connectLinkHint')}
          </div>
        </div>
      </form>
      <p class="muted">{t('options.orEnter')}</p>
      <form onSubmit={onSubmit} class="card" noValidate>
        <div class="field">
          <label for="relay-url">{t('options.relayUrl')}</label>
          <input
            id="relay-url"
            name="relayUrl"
            type="url"
            placeholder="https://relay.example.com"
            value={relayUrl}
            aria-invalid={badField === 'relayUrl'}
            aria-describedby={describedBy('relayUrl', 'relay-url-hint')}
            onInput={(e) => setRelayUrl(e.currentTarget.value)}
            required
          />
          <div id="relay-url-hint" class="hint">
            {t('options.relayUrlHint')}
          </div>
        </div>
        <div class="field">
          <label for="token">{t('options.token')}</label>
          <div class="row">
            <input
              id="token"
              name="token"
              class="grow"
              type={showToken ? 'text' : 'password'}
              placeholder="rtk_…"
              autoComplete="off"
              value={token}
              aria-invalid={badField === 'token'}
              aria-describedby={describedBy('token')}
              onInput={(e) => setToken(e.currentTarget.value)}
              required
            />
            <button type="button" onClick={() => setShowToken(!showToken)} aria-pressed={showToken}>
              {showToken ? t('options.hide') : t('options.show')}
            </button>
          </div>
        </div>
        <div class="row">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? t('options.testing') : t('options.save')}
          </button>
          {saved && !confirmingDisconnect && (
            <button type="button" onClick={() => setConfirmingDisconnect(true)} disabled={busy}>
              {t('options.disconnect')}
            </button>
          )}
        </div>
        {confirmingDisconnect && (
          <div
            class="notice warn"
            role="alertdialog"
            aria-label={t('options.disconnectTitle')}
            data-testid="confirm-disconnect"
          >
            <p>{t('options.disconnectBody')}</p>
            <div class="row">
              <button type="button" class="primary" onClick={disconnect}>
                {t('options.disconnect')}
              </button>
              <button type="button" onClick={() => setConfirmingDisconnect(false)}>
                {t('options.keepConnected')}
              </button>
            </div>
          </div>
        )}
      </form>
      <div aria-live="polite">
        {result?.tone === 'ok' && (
          <div class="notice ok" data-testid="connection-ok">
            <strong>{t('options.connectedAs', { name: result.me.member.name })}</strong>
            <ul>
              <li>{t('options.provider', { provider: providerName(result.me) })}</li>
              <li>{t('options.budget', { budget: describeBudget(result.me) })}</li>
              <li>
                {result.me.member.maxConcurrentJobs
                  ? t('options.jobsRunningMax', {
                      count: formatNumber(result.me.activeJobs),
                      max: formatNumber(result.me.member.maxConcurrentJobs),
                    })
                  : t('options.jobsRunning', { count: formatNumber(result.me.activeJobs) })}
              </li>
            </ul>
            <p>{t('options.next')}</p>
            <PinHint />
          </div>
        )}
        {result?.tone === 'bad' && (
          <div class="notice bad" role="alert" id="connection-error" data-testid="connection-error">
            {result.text}
          </div>
        )}
      </div>
    </main>
  );
}
