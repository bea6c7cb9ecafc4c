import { render } from 'preact';
import '../../components/theme.css';
import '../../components/picker.css';
import { PickerApp } from '../../components/picker-app.js';
import { localizePage } from '../../lib/i18n.js';
import { loadPickRequest } from '../../lib/pick-request.js';

localizePage('picker.pageTitle');

const id = new URLSearchParams(location.search).get('pick');
(id ? loadPickRequest(id) : Promise.resolve(null)).then((request) => {
  render(<PickerApp request={request} />, document.getElementById('app')!);
});
