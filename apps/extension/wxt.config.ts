import preact from '@preact/preset-vite';
import { defineConfig } from 'wxt';

// Broad patterns are only *optional*: at runtime the options page asks for exactly the relay's origin.
const RELAY_ORIGIN_PATTERNS = ['http://*/*', 'https://*/*'];

// The end-to-end tests' build (`pnpm build:e2e`): the production build plus the one hook they need
// (native context menus cannot be clicked by automation), in its own folder. The shipped build
// has no hook at all (finding 25); test/build-output.test.ts checks both.
const E2E_HOOKS = process.env.RETALK_E2E_HOOKS === '1';

export default defineConfig({
  srcDir: 'src',
  ...(E2E_HOOKS && { outDirTemplate: '{{browser}}-mv{{manifestVersion}}-e2e' }),
  // Messages live in src/locales/<locale>.yml; the module writes _locales/*/messages.json and typed keys.
  modules: ['@wxt-dev/i18n/module'],
  vite: () => ({
    plugins: [preact()],
    define: { 'import.meta.env.RETALK_E2E_HOOKS': JSON.stringify(E2E_HOOKS) },
  }),
  webExt: { disabled: true },
  zip: {
    artifactTemplate: 'retalk-{{version}}-{{browser}}.zip',
    sourcesTemplate: 'retalk-{{version}}-sources.zip',
    excludeSources: ['test-results/**', '.turbo/**'],
  },
  hooks: {
    // The video finder is injected on demand through activeTab; WXT would otherwise turn its
    // `matches` into access to every site, and the relay permission would mean nothing.
    'build:manifestGenerated': (_wxt, manifest) => {
      const noAllUrls = (list: string[] | undefined) => list?.filter((entry) => entry !== '<all_urls>');
      manifest.host_permissions = noAllUrls(manifest.host_permissions);
      if (manifest.host_permissions?.length === 0) delete manifest.host_permissions;
      manifest.permissions = noAllUrls(manifest.permissions as string[] | undefined);
      if (manifest.content_scripts?.length === 0) delete manifest.content_scripts;
    },
  },
  manifest: ({ browser, manifestVersion }) => ({
    name: '__MSG_extName__',
    description: '__MSG_extDescription__',
    default_locale: 'en',
    permissions: [
      'contextMenus',
      'storage',
      'alarms',
      'notifications',
      'downloads',
      'activeTab',
      'scripting',
    ],
    optional_host_permissions: RELAY_ORIGIN_PATTERNS,
    // WXT drops optional_host_permissions for MV2 without moving them (reference §1.4).
    ...(manifestVersion === 2 && { optional_permissions: RELAY_ORIGIN_PATTERNS }),
    action: { default_title: '__MSG_actionTitle__' },
    ...(browser === 'firefox' && {
      browser_specific_settings: {
        gecko: { id: 'retalk@retalk.invalid', data_collection_permissions: { required: ['none'] } },
      },
    }),
  }),
});
