import { render } from 'preact';
import '../../components/theme.css';
import '../../components/popup.css';
import '../../components/history.css';
import { HistoryApp } from '../../components/history-app.js';
import { localizePage } from '../../lib/i18n.js';
import { allJobs } from '../../lib/job-store.js';
import { settingsItem } from '../../lib/settings.js';

localizePage('history.pageTitle');

Promise.all([allJobs(), settingsItem.getValue()]).then(([jobs, settings]) => {
  render(<HistoryApp initialJobs={jobs} connected={settings !== null} />, document.getElementById('app')!);
});
