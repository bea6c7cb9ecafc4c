import { fakeBrowser } from 'wxt/testing/fake-browser';
import { chromeMessages, getMessageFrom } from './locale-messages.js';

// The fake browser has no i18n: unit tests read the real English messages, as an English browser would.
const getMessage = getMessageFrom(await chromeMessages('en'));
Object.assign(fakeBrowser.i18n, {
  getMessage,
  getUILanguage: () => 'en-US',
});
