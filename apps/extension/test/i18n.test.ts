import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jobErrorHint, PROVIDER_ERRORS } from '@retalk/core';
import { RELAY_JOB_ERRORS, RelayErrorCodeSchema } from '@retalk/core/relay';
import { JOB_STATUSES } from '@retalk/core/status';
import { parseMessagesFile } from '@wxt-dev/i18n/build';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import { browser } from 'wxt/browser';
import { jobAdvice, providerAdviceKey, toErrorMessage } from '../src/lib/errors.js';
import { explainJobError } from '../src/lib/job-presenter.js';
import { formatBytes, formatDurationMs, formatSeconds } from '../src/lib/time-format.js';
import {
  chromeMessages,
  getMessageFrom,
  LOCALES,
  type Locale,
  localeFile,
} from './support/locale-messages.js';

type Shape = { plural: boolean; named: string[]; positional: number };

async function shapes(locale: Locale): Promise<Map<string, Shape>> {
  const parsed = await parseMessagesFile(localeFile(locale));
  return new Map(
    parsed
      .filter((m) => !m.key[0]?.startsWith('@@'))
      .map((m) => [
        m.key.join('.'),
        {
          plural: m.type === 'plural',
          named: m.type === 'simple' ? [...m.namedSubstitutions].sort() : [],
          positional: m.type === 'simple' ? m.substitutions : 0,
        },
      ]),
  );
}

describe('locales', () => {
  it('have the same keys in every locale, with the same placeholders and plural-ness', async () => {
    const [en, ...others] = await Promise.all(LOCALES.map(shapes));
    for (const [index, other] of others.entries()) {
      const locale = LOCALES[index + 1];
      expect(
        [...en!.keys()].filter((key) => !other.has(key)),
        `keys missing in ${locale}`,
      ).toEqual([]);
      expect(
        [...other.keys()].filter((key) => !en!.has(key)),
        `keys only in ${locale}`,
      ).toEqual([]);
      for (const [key, shape] of en!) expect(other.get(key), `${locale}: ${key}`).toEqual(shape);
    }
  });

  it('write plurals in a form the runtime reads: n; 1 and n; or 0, 1 and n', async () => {
    // @wxt-dev/i18n picks a form by position: two forms are [1, n], three are [0, 1, n], so a
    // "0 and n" plural would show its zero form for one item.
    for (const locale of LOCALES) {
      const plurals = (await parseMessagesFile(localeFile(locale))).filter((m) => m.type === 'plural');
      expect(plurals.length).toBeGreaterThan(3);
      for (const message of plurals) {
        const forms = Object.keys(message.plurals).join(',');
        expect(['n', '1,n', '0,1,n'], `${locale}: ${message.key.join('.')} has ${forms}`).toContain(forms);
      }
    }
  });

  it('have a message for every job status and every relay job error code', async () => {
    for (const locale of LOCALES) {
      const messages = await chromeMessages(locale);
      // Core's list, so a status added there fails here until both locales name it.
      for (const status of JOB_STATUSES) expect(messages[`status_${status}`]?.message, status).toBeTruthy();
      for (const code of Object.keys(RELAY_JOB_ERRORS))
        expect(messages[`errors_job_${code}`]?.message, `${locale}: ${code}`).toBeTruthy();
    }
  });

  it('put the count of a plural where the locale says, in every plural form', async () => {
    const en = getMessageFrom(await chromeMessages('en'));
    const zh = getMessageFrom(await chromeMessages('zh_CN'));
    expect(en('popup_jobs', ['3']).split(' | ')).toEqual(['1 job', '3 jobs']);
    // Chinese has one form for every count.
    expect(zh('popup_jobs', ['1'])).toBe('共 1 个任务');
  });
});

/** Every provider code core can put in a failed job (`jobErrorHint` knows it), with its provider. */
function providerJobCodes(): Array<{ provider: keyof typeof PROVIDER_ERRORS; code: string }> {
  return (Object.keys(PROVIDER_ERRORS) as Array<keyof typeof PROVIDER_ERRORS>).flatMap((provider) =>
    Object.keys(PROVIDER_ERRORS[provider])
      .filter((code) => jobErrorHint(provider, code) !== undefined)
      .map((code) => ({ provider, code })),
  );
}

const CJK = /[\u4e00-\u9fff]/;

describe('advice for errors that come from outside the extension', () => {
  const english = browser.i18n.getMessage;
  afterEach(() => {
    browser.i18n.getMessage = english;
  });
  async function readChinese() {
    browser.i18n.getMessage = getMessageFrom(await chromeMessages('zh_CN')) as typeof english;
  }

  it('has a message for every provider code core can put in a failed job, in every locale', async () => {
    const codes = providerJobCodes();
    expect(codes.length).toBeGreaterThan(70);
    // The code alone picks the message (a job error does not say which provider): no code may mean
    // two things, and no two codes may share a message name (names are case-insensitive).
    const names = codes.map(({ code }) => providerAdviceKey(code).toLowerCase());
    expect(new Set(names).size).toBe(codes.length);
    for (const locale of LOCALES) {
      const messages = await chromeMessages(locale);
      const lower = new Map(Object.entries(messages).map(([name, entry]) => [name.toLowerCase(), entry]));
      for (const { provider, code } of codes) {
        const message = lower.get(providerAdviceKey(code).toLowerCase())?.message;
        expect(message, `${locale}: ${provider} ${code}`).toBeTruthy();
        if (locale === 'zh_CN') expect(message, `${locale}: ${code}`).toMatch(CJK);
      }
    }
  });

  it('shows a failed job’s advice in Chinese, never the relay’s English hint, for every code', async () => {
    await readChinese();
    const codes = [...providerJobCodes().map(({ code }) => code), ...Object.keys(RELAY_JOB_ERRORS)];
    for (const code of codes) {
      const hint = 'Some English advice from the relay.';
      const explained = explainJobError({ code, message: 'Provider said no', retryable: false, hint });
      expect(explained.what, code).toMatch(CJK);
      expect(JSON.stringify(explained), code).not.toContain('English');
    }
    expect(jobAdvice('InvalidFile.FPS')).toBe('视频帧率必须在每秒 15–60 帧之间。请使用该视频的其他版本。');
  });

  it('leads a failed job with the Chinese text for its code, the provider’s English only as the detail', async () => {
    await readChinese();
    expect(
      explainJobError({
        code: 'InvalidFile.FPS',
        message: 'The fps of video must be 15 ~ 60.',
        retryable: false,
        hint: 'The video must be 15–60 fps.',
      }),
    ).toEqual({
      what: '视频帧率必须在每秒 15–60 帧之间。请使用该视频的其他版本。',
      detail: 'The fps of video must be 15 ~ 60.（InvalidFile.FPS）',
    });
  });

  it('falls back to the relay’s hint for a provider code newer than the extension', () => {
    const explained = explainJobError({
      code: 'SomeNewCode.Later',
      message: 'New',
      retryable: false,
      hint: 'Advice from core.',
    });
    expect(explained).toEqual({ what: 'New (SomeNewCode.Later)', todo: 'Advice from core.' });
    expect(jobAdvice('SomeNewCode.Later')).toBeUndefined();
  });

  it('explains every relay error code in Chinese, not with the relay’s English message', async () => {
    await readChinese();
    for (const relayCode of RelayErrorCodeSchema.options) {
      const error = Object.assign(new Error('The relay said something in English'), {
        code: relayCode === 'unauthorized' ? 'auth' : 'invalid_request',
        providerCode: relayCode,
      });
      const text = toErrorMessage(error);
      expect(text, relayCode).toMatch(CJK);
      // A few messages quote the relay's detail (which field, which limit) after a local lead.
      expect(text.startsWith('The relay'), relayCode).toBe(false);
    }
    for (const code of ['network', 'timeout', 'response_validation', 'auth'])
      expect(toErrorMessage(Object.assign(new Error('English'), { code })), code).toMatch(CJK);
  });
});

describe('number, size and duration formats', () => {
  it('read in English in an English browser', () => {
    expect(formatSeconds(3)).toBe('3.0 s');
    expect(formatSeconds(75)).toBe('1 min 15 s');
    expect(formatDurationMs(2 * 3_600_000 + 5 * 60_000)).toBe('2 h 5 min');
    expect(formatBytes(3.25 * 1024 * 1024)).toBe('3.3 MB');
    expect(formatSeconds(1234.5)).toBe('20 min 35 s');
  });
});

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
/** Attributes a member reads or hears. */
const UI_ATTRIBUTES = new Set(['aria-label', 'title', 'alt', 'placeholder', 'label', 'aria-valuetext']);
/** Object keys whose string values end up on screen, in a notification or in a menu. */
const UI_PROPERTIES = new Set(['message', 'title', 'label', 'text', 'what', 'todo']);

/**
 * English words in a string: two or more letters in a row, in a string that is not a single
 * technical token (a URL, a file pattern, an id such as `rtk_…`).
 */
function hasWords(text: string): boolean {
  const trimmed = text.trim();
  if (!/[A-Za-z]{2,}/.test(trimmed)) return false;
  if (!/\s/.test(trimmed) && /[./:_#*@-]/.test(trimmed)) return false;
  return true;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.tsx?$/.test(entry.name))
    .map((entry) => `${entry.parentPath}/${entry.name}`);
}

/** Hard-coded UI strings in one file: JSX text, UI attributes, and literals in UI-bound places. */
function hardCodedStrings(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const literalText = (node: ts.Node): string | undefined =>
    ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)
      ? node.text
      : ts.isTemplateExpression(node)
        ? [node.head.text, ...node.templateSpans.map((span) => span.literal.text)].join(' ')
        : undefined;
  const report = (node: ts.Node, text: string | undefined) => {
    if (text !== undefined && hasWords(text)) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart());
      found.push(`${file.slice(SRC.length)}:${line + 1}: ${text.trim()}`);
    }
  };
  const visit = (node: ts.Node) => {
    if (ts.isJsxText(node)) report(node, node.text);
    else if (ts.isJsxAttribute(node) && UI_ATTRIBUTES.has(node.name.getText()) && node.initializer) {
      const value = ts.isJsxExpression(node.initializer) ? node.initializer.expression : node.initializer;
      if (value) report(node, literalText(value));
    } else if (ts.isJsxExpression(node) && node.expression && ts.isJsxElement(node.parent)) {
      report(node, literalText(node.expression));
    } else if (ts.isPropertyAssignment(node) && UI_PROPERTIES.has(node.name.getText())) {
      report(node, literalText(node.initializer));
    } else if (
      (ts.isNewExpression(node) || ts.isCallExpression(node)) &&
      /^(Error|createExtensionError|setFrameAccessError|setSubmitError|setMeError)$/.test(
        node.expression.getText(),
      )
    ) {
      // A sentence: a one-word argument is an internal reason (`new Error('canceled')`), not UI.
      for (const arg of node.arguments ?? []) {
        const text = literalText(arg);
        if (text && /\s/.test(text.trim())) report(arg, text);
      }
    } else if (
      ts.isConditionalExpression(node) &&
      ts.isJsxExpression(node.parent) &&
      ts.isJsxElement(node.parent.parent)
    ) {
      report(node.whenTrue, literalText(node.whenTrue));
      report(node.whenFalse, literalText(node.whenFalse));
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('the UI source', () => {
  it('has no hard-coded English: every string a member reads comes from the locales', () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(30);
    expect(files.flatMap(hardCodedStrings)).toEqual([]);
  });

  it('would catch a hard-coded string (the check itself works)', () => {
    const probe = `${SRC}components/__probe.tsx`;
    writeFileSync(
      probe,
      `export const A = () => <p title="Some title">Hello there{cond ? 'Yes it is' : 'x'}<i type={a ? 'text' : 'b'} /></p>;
       const e = new Error('Something went wrong');`,
    );
    try {
      expect(hardCodedStrings(probe).map((line) => line.replace(/^.*: /, ''))).toEqual([
        'Some title',
        'Hello there',
        'Yes it is',
        'Something went wrong',
      ]);
    } finally {
      rmSync(probe);
    }
  });
});
