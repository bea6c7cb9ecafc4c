import { t } from '../lib/i18n.js';

export function EmptyState() {
  return (
    <div class="empty">
      <div class="empty-art" aria-hidden="true">
        ▶
      </div>
      <h2>{t('popup.emptyTitle')}</h2>
      <p>
        {t('popup.emptyHowBefore')} <strong>{t('popup.emptyHowRightClick')}</strong>{' '}
        {t('popup.emptyHowChoose')} <strong>“{t('menu.video')}”</strong>. {t('popup.emptyHowAfter')}
      </p>
      <p class="muted">{t('popup.emptyOverlay')}</p>
    </div>
  );
}
