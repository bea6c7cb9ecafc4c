import { useEffect, useState } from 'preact/hooks';
import { t } from '../lib/i18n.js';
import { needsPinHint } from '../lib/pin-hint.js';

/** "Pin Retalk to the toolbar…", shown only while the button is hidden in the Extensions menu. */
export function PinHint() {
  const [show, setShow] = useState(false);
  useEffect(() => {
    void needsPinHint().then(setShow);
  }, []);
  if (!show) return null;
  return (
    <p class="notice info pin-hint" data-testid="pin-hint">
      <strong>{t('pin.title')}</strong> {t('pin.how')}
    </p>
  );
}
