import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { uploadMaxBytes } from '../src/routes/uploads.js';

describe('loadConfig', () => {
  it('defaults to the simulator on 127.0.0.1:8787 with .retalk-data under the working directory', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config).toMatchObject({
      simulator: true,
      host: '127.0.0.1',
      port: 8787,
      dataDir: '/srv/app/.retalk-data',
      allowPrivateUrls: true,
      shutdownGraceMs: 8_000,
    });
    expect(loadConfig({ RETALK_SHUTDOWN_GRACE_MS: '30000' }, '/').shutdownGraceMs).toBe(30_000);
    expect(() => loadConfig({ RETALK_SHUTDOWN_GRACE_MS: '-1' }, '/')).toThrow(/RETALK_SHUTDOWN_GRACE_MS/);
  });

  it('gives each member room for the largest original by default (4 GiB for 2 GiB videos)', () => {
    const config = loadConfig({}, '/');
    const GiB = 1024 ** 3;
    expect(uploadMaxBytes(config).video).toBe(2 * GiB);
    expect(config.memberStorageBytes).toBe(4 * GiB);
    // The default follows a larger originals limit, so the two never disagree.
    const big = loadConfig({ RETALK_MAX_UPLOAD_MB: '5000' }, '/');
    expect(big.memberStorageBytes).toBeGreaterThanOrEqual(uploadMaxBytes(big).video);
    expect(big.memberStorageBytes).toBe(10_000 * 1024 ** 2);
  });

  it('refuses at start a storage quota below the largest upload, saying what to change', () => {
    let error: unknown;
    try {
      loadConfig({ RETALK_MEMBER_STORAGE_MB: '1024' }, '/');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'RETALK_MEMBER_STORAGE_MB=1024 is below the largest upload a member may make (2048 MB, the default video originals limit), so such a file could never be stored: raise RETALK_MEMBER_STORAGE_MB to at least 2048 (4096 leaves room for its conformed copy and the voice), or lower RETALK_MAX_UPLOAD_MB to at most 1024',
    ]);
    expect(() => loadConfig({ RETALK_MEMBER_STORAGE_MB: '100', RETALK_MAX_UPLOAD_MB: '200' }, '/')).toThrow(
      /below the largest upload a member may make \(200 MB, RETALK_MAX_UPLOAD_MB\)/,
    );
    // Equal is enough: one largest file fits.
    expect(loadConfig({ RETALK_MEMBER_STORAGE_MB: '2048' }, '/').memberStorageBytes).toBe(2048 * 1024 ** 2);
    expect(
      loadConfig({ RETALK_MEMBER_STORAGE_MB: '300', RETALK_MAX_UPLOAD_MB: '300' }, '/').memberStorageBytes,
    ).toBe(300 * 1024 ** 2);
  });

  it('reads a real provider configuration', () => {
    const config = loadConfig(
      {
        RETALK_PROVIDER: 'evolink',
        RETALK_API_KEY: 'k-123',
        RETALK_PUBLIC_URL: 'https://relay.example.com/',
        PORT: '9000',
      },
      '/',
    );
    expect(config).toMatchObject({
      provider: 'evolink',
      simulator: false,
      apiKey: 'k-123',
      publicUrl: 'https://relay.example.com',
      port: 9000,
      allowPrivateUrls: false,
    });
  });

  it('names every bad value in one readable error, without echoing secrets', () => {
    let error: unknown;
    try {
      loadConfig(
        {
          RETALK_PROVIDER: 'openai',
          PORT: '99999',
          RETALK_PUBLIC_URL: 'relay.example.com',
          RETALK_ADMIN_TOKEN: 'short-secret',
        },
        '/',
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/RETALK_PROVIDER must be evolink, dashscope or simulator/);
    expect(problems).toMatch(/PORT must be at most 65535/);
    expect(problems).toMatch(/RETALK_PUBLIC_URL must be an http\(s\) URL/);
    expect(problems).toMatch(/RETALK_ADMIN_TOKEN must be at least 24 characters/);
    expect(problems).not.toContain('short-secret');
  });

  it('asks for the key when a real provider is chosen without one', () => {
    expect(() => loadConfig({ RETALK_PROVIDER: 'dashscope' }, '/')).toThrow(/needs RETALK_API_KEY/);
  });
});
