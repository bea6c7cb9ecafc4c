import { render } from 'preact';
import '../../components/theme.css';
import '../../components/popup.css';
import { PopupApp } from '../../components/popup-app.js';
import { localizePage } from '../../lib/i18n.js';
import { jobsItem } from '../../lib/job-store.js';
import { settingsItem } from '../../lib/settings.js';

localizePage('popup.pageTitle');

// Draw from stored state first; the app then goes live.
const highlight = new URLSearchParams(location.search).get('job');
Promise.all([jobsItem.getValue(), settingsItem.getValue()]).then(([jobs, settings]) => {
  render(
    <PopupApp initialJobs={jobs} connected={settings !== null} highlightJobId={highlight} />,
    document.getElementById('app')!,
  );
});
