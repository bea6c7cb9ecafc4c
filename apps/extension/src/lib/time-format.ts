import { t, uiLocale } from './i18n.js';

// Formatters are built once per locale: Intl constructors are slow enough to matter in a list.
const cache = new Map<string, Intl.NumberFormat | Intl.ListFormat>();
function cached<T extends Intl.NumberFormat | Intl.ListFormat>(key: string, make: (locale: string) => T): T {
  const locale = uiLocale();
  const id = `${locale}|${key}`;
  let format = cache.get(id);
  if (!format) {
    format = make(locale);
    cache.set(id, format);
  }
  return format as T;
}

// The unit words come from the messages ("4.0 s", "4.0 秒"); the number from Intl.
const UNIT_KEYS = { second: 'units.seconds', minute: 'units.minutes', hour: 'units.hours' } as const;
function unit(value: number, name: keyof typeof UNIT_KEYS, fractionDigits = 0): string {
  const number = cached(
    `fixed:${fractionDigits}`,
    (locale) =>
      new Intl.NumberFormat(locale, {
        minimumFractionDigits: fractionDigits,
        maximumFractionDigits: fractionDigits,
      }),
  ).format(value);
  return t(UNIT_KEYS[name], { n: number });
}

// A narrow unit list joins "1 min" and "15 s" with a space in English, with nothing in Chinese.
function join(parts: string[]): string {
  return cached('list', (locale) => new Intl.ListFormat(locale, { type: 'unit', style: 'narrow' })).format(
    parts,
  );
}

/** A plain number in the UI's locale (`1,234`, `0.5`). */
export function formatNumber(value: number, maximumFractionDigits = 1): string {
  return cached(
    `n:${maximumFractionDigits}`,
    (locale) => new Intl.NumberFormat(locale, { maximumFractionDigits }),
  ).format(value);
}

/** `3.4` → `3.4 s`, `75` → `1 min 15 s` (in the UI's locale); `—` when unknown. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 60) return seconds < 10 ? unit(seconds, 'second', 1) : unit(Math.round(seconds), 'second');
  const whole = Math.round(seconds);
  const minutes = Math.floor(whole / 60);
  const rest = whole % 60;
  return rest === 0 ? unit(minutes, 'minute') : join([unit(minutes, 'minute'), unit(rest, 'second')]);
}

/** Elapsed or remaining time for the job list: `12 s`, `4 min`, `2 h 5 min`. */
export function formatDurationMs(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return unit(seconds, 'second');
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return unit(minutes, 'minute');
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? unit(hours, 'hour') : join([unit(hours, 'hour'), unit(rest, 'minute')]);
}

/** File sizes: `512 byte`, `40 kB`, `3.2 MB` in the UI's locale. */
export function formatBytes(bytes: number): string {
  const [value, name, digits] =
    bytes < 1024
      ? [bytes, 'byte', 0]
      : bytes < 1024 * 1024
        ? [bytes / 1024, 'kilobyte', 0]
        : [bytes / (1024 * 1024), 'megabyte', 1];
  return cached(
    `${name}`,
    (locale) =>
      new Intl.NumberFormat(locale, {
        style: 'unit',
        unit: name,
        unitDisplay: 'short',
        maximumFractionDigits: digits,
        minimumFractionDigits: digits,
      }),
  ).format(value);
}

/** A wall-clock time (`14:05:09`) in the UI's locale. */
export function formatTime(date: Date): string {
  return date.toLocaleTimeString(uiLocale());
}

/** `42%` in the UI's locale, rounded to a whole percent. */
export function formatPercent(value: number): string {
  return cached(
    'percent',
    (locale) => new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 0 }),
  ).format(value / 100);
}

/** A job's date and time (`Jun 1, 2026, 2:05 PM`, `2026年6月1日 14:05`); empty when unreadable. */
export function formatDateTime(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return '';
  return cachedDate().format(ms);
}

let dateFormat: { locale: string; format: Intl.DateTimeFormat } | undefined;
function cachedDate(): Intl.DateTimeFormat {
  const locale = uiLocale();
  if (dateFormat?.locale !== locale)
    dateFormat = {
      locale,
      format: new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }),
    };
  return dateFormat.format;
}
