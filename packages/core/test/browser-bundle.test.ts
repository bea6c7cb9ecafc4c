import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));

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
