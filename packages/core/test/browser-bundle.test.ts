import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const src = fileURLToPath(new URL('../src/', import.meta.url));

/** Source files and zod modules that keep at least one byte in a minified browser bundle of `contents`. */
async function bundledModules(contents: string): Promise<string[]> {
  const result = await build({
    stdin: { contents, resolveDir: src, loader: 'ts' },
    bundle: true,
    minify: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    logLevel: 'silent',
    metafile: true,
  });
  const [output] = Object.values(result.metafile.outputs);
  return Object.entries(output?.inputs ?? {})
    .filter(([, info]) => info.bytesInOutput > 0)
    .map(([path]) => path);
}

describe('the main entry', () => {
  it('bundles for the browser without any Node built-in', async () => {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((p) => p.includes('src/client.ts'))).toBe(true);
    expect(inputs.filter((p) => p.startsWith('node:') || p.includes('/node/'))).toEqual([]);
    expect(inputs.some((p) => p.includes('undici'))).toBe(false);
  });

  it('fails to bundle something that imports a Node built-in (the check can fail)', async () => {
    await expect(
      build({
        stdin: {
          contents: "import { readFile } from 'node:fs'; console.log(readFile);",
          resolveDir: process.cwd(),
        },
        bundle: true,
        platform: 'browser',
        write: false,
        logLevel: 'silent',
      }),
    ).rejects.toThrow(/node:fs/);
  });
});

describe('the relay subpath (@retalk/core/relay)', () => {
  it('is not part of the main entry', async () => {
    const inputs = await bundledModules(`export * from './index.ts';`);
    expect(inputs.some((p) => p.includes('src/client.ts'))).toBe(true);
    expect(inputs.filter((p) => p.includes('src/relay/'))).toEqual([]);
  });

  it('gives a page createRelayClient with zod/mini and without full zod or provider code', async () => {
    const inputs = await bundledModules(`export { createRelayClient } from './relay/index.ts';`);
    expect(inputs.some((p) => p.includes('zod/v4/mini/'))).toBe(true);
    expect(inputs.filter((p) => p.includes('zod/v4/classic/') || p.includes('/locales/'))).toEqual([]);
    expect(inputs.filter((p) => p.includes('src/providers/') || p.includes('src/client.ts'))).toEqual([]);
    expect(inputs.filter((p) => p.startsWith('node:') || p.includes('/node/'))).toEqual([]);
  });

  it('leaves zod out of a page that only checks media limits', async () => {
    const inputs = await bundledModules(`export { checkMedia, estimateOutputSeconds } from './index.ts';`);
    expect(inputs.some((p) => p.includes('src/limits.ts'))).toBe(true);
    expect(inputs.filter((p) => p.includes('/zod/'))).toEqual([]);
  });
});

describe('the conform plan and the media subpath (@retalk/core/media)', () => {
  it('plans in a page without mediabunny or zod', async () => {
    const inputs = await bundledModules(`export { planConform } from './index.ts';`);
    expect(inputs.some((p) => p.includes('src/conform/plan.ts'))).toBe(true);
    expect(inputs.filter((p) => p.includes('mediabunny') || p.includes('/zod/'))).toEqual([]);
  });

  it('bundles probe and executor for the browser without Node built-ins or the server codecs', async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL('../src/media/index.ts', import.meta.url))],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((p) => p.includes('mediabunny'))).toBe(true);
    expect(
      inputs.filter(
        (p) => p.startsWith('node:') || p.includes('@mediabunny/server') || p.includes('node-av'),
      ),
    ).toEqual([]);
  });
});
