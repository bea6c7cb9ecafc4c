import { render } from 'preact';
import '../../components/theme.css';
import '../../components/picker.css';
import { PickerApp } from '../../components/picker-app.js';
import { localizePage } from '../../lib/i18n.js';
import { filesPickRequest, loadPickRequest } from '../../lib/pick-request.js';

localizePage('picker.pageTitle');

const query = new URLSearchParams(location.search);
const id = query.get('pick');
const opened = query.has('files')
  ? Promise.resolve(filesPickRequest())
  : id
    ? loadPickRequest(id)
    : Promise.resolve(null);
opened.then((request) => {
  render(<PickerApp request={request} />, document.getElementById('app')!);
});
