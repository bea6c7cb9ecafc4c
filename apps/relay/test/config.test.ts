import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

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
