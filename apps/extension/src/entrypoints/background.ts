import { defineBackground } from 'wxt/utils/define-background';
import { startServiceWorker } from '../lib/service-worker.js';

export default defineBackground(() => {
  startServiceWorker();
});
