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
import { createRelayConnection, requestRelayPermission } from '../lib/relay-connection.js';
import { settingsItem } from '../lib/settings.js';

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
          text: `Connected to ${new URL(settings.relayUrl).host}, but the relay does not answer now: ${toErrorMessage(error)}`,
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
      showError(
        createExtensionError(
          'invalid_relay_url',
          'This is not a whole connect link: it looks like https://relay.example.com/connect#code=rtc_… Copy all of it, or ask for a new one.',
          { field: 'connectLink' },
        ),
      );
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
      <h1>Connect Retalk to your team relay</h1>
      <p class="muted">
        Your team runs a Retalk relay that holds the provider account. Connect with the link your relay admin
        sent you, or with the relay’s address and your personal token (it starts with <code>rtk_</code>). No
        provider key ever goes into this extension.
      </p>
      <form onSubmit={onConnectLink} class="card" noValidate>
        <div class="field">
          <label for="connect-link">Connect link</label>
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
              Connect
            </button>
          </div>
          <div id="connect-link-hint" class="hint">
            Got a link from your relay admin? It connects this browser without a token; it works once.
          </div>
        </div>
      </form>
      <p class="muted">Or enter the relay’s address and your personal token:</p>
      <form onSubmit={onSubmit} class="card" noValidate>
        <div class="field">
          <label for="relay-url">Relay URL</label>
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
            The browser will ask to let Retalk talk to this address only.
          </div>
        </div>
        <div class="field">
          <label for="token">Personal token</label>
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
              {showToken ? 'Hide' : 'Show'}
            </button>
          </div>
        </div>
        <div class="row">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Testing…' : 'Save and test connection'}
          </button>
          {saved && !confirmingDisconnect && (
            <button type="button" onClick={() => setConfirmingDisconnect(true)} disabled={busy}>
              Disconnect
            </button>
          )}
        </div>
        {confirmingDisconnect && (
          <div
            class="notice warn"
            role="alertdialog"
            aria-label="Disconnect this browser?"
            data-testid="confirm-disconnect"
          >
            <p>
              Disconnect this browser from the relay? Your jobs stay on the relay; you will need a new link or
              your token to connect again.
            </p>
            <div class="row">
              <button type="button" class="primary" onClick={disconnect}>
                Disconnect
              </button>
              <button type="button" onClick={() => setConfirmingDisconnect(false)}>
                Keep connected
              </button>
            </div>
          </div>
        )}
      </form>
      <div aria-live="polite">
        {result?.tone === 'ok' && (
          <div class="notice ok" data-testid="connection-ok">
            <strong>Connected as {result.me.member.name}.</strong>
            <ul>
              <li>Provider: {providerName(result.me)}</li>
              <li>Budget: {describeBudget(result.me)}</li>
              <li>
                Jobs running now: {result.me.activeJobs}
                {result.me.member.maxConcurrentJobs
                  ? ` (up to ${result.me.member.maxConcurrentJobs} at once)`
                  : ''}
              </li>
            </ul>
            <p>Now right-click any video on a page and choose “Lip-sync this video…”.</p>
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
