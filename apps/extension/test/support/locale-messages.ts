import { fileURLToPath } from 'node:url';
import { generateChromeMessages, parseMessagesFile } from '@wxt-dev/i18n/build';

/** The locales the extension ships, as in src/locales/<locale>.yml. */
export const LOCALES = ['en', 'zh_CN'] as const;
export type Locale = (typeof LOCALES)[number];

export function localeFile(locale: Locale): string {
  return fileURLToPath(new URL(`../../src/locales/${locale}.yml`, import.meta.url));
}

/** A locale's messages as the browser gets them (`_locales/<locale>/messages.json`). */
export async function chromeMessages(locale: Locale): Promise<Record<string, { message: string }>> {
  return generateChromeMessages(await parseMessagesFile(localeFile(locale))) as Record<
    string,
    { message: string }
  >;
}

/**
 * `browser.i18n.getMessage` as Chrome implements it for these files: `$1`–`$9` take the
 * substitutions, `$$` is a dollar sign, an unknown key gives "".
 */
export function getMessageFrom(messages: Record<string, { message: string }>) {
  return (key: string, substitutions?: string | string[]): string => {
    const entry = messages[key];
    if (!entry) return '';
    const subs = substitutions === undefined ? [] : [substitutions].flat();
    return entry.message.replace(/\$(\$|[1-9])/g, (_, which: string) =>
      which === '$' ? '$' : (subs[Number(which) - 1] ?? ''),
    );
  };
}
