import { render } from 'preact';
import '../../components/theme.css';
import '../../components/options.css';
import { OptionsApp } from '../../components/options-app.js';
import { localizePage } from '../../lib/i18n.js';

localizePage('options.pageTitle');

render(<OptionsApp />, document.getElementById('app')!);
