import { render } from 'preact';
import '../../components/theme.css';
import '../../components/options.css';
import { OptionsApp } from '../../components/options-app.js';

render(<OptionsApp />, document.getElementById('app')!);
