import { describe, expect, it } from 'vitest';
import { checkInputUrl, isPrivateAddress } from '../src/url-guard.js';

const publicResolver = async () => ['93.184.216.34'];

describe('checkInputUrl', () => {
  it.each([
    'http://127.0.0.1/a.mp4',
    'http://2130706433/a.mp4',
    'http://017700000001/a.mp4',
    'http://0x7f000001/a.mp4',
    'http://127.1/a.mp4',
    'http://[::1]/a.mp4',
    'http://[::ffff:127.0.0.1]/a.mp4',
    'http://[::ffff:7f00:1]/a.mp4',
    'http://[fe80::1]/a.mp4',
    'http://[fd00::1]/a.mp4',
    'http://0.0.0.0/a.mp4',
    'http://100.64.0.1/a.mp4',
    'http://172.16.5.4/a.mp4',
    'http://169.254.169.254/latest',
    'http://localhost/a.mp4',
    'http://media.local/a.mp4',
    'http://intranet/a.mp4',
  ])('refuses %s', async (url) => {
    expect(await checkInputUrl(url, { allowPrivate: false, resolve: publicResolver })).toBeDefined();
  });

  it('refuses a public-looking name that resolves to a private address', async () => {
    const problem = await checkInputUrl('https://rebind.example.com/a.mp4', {
      allowPrivate: false,
      resolve: async () => ['93.184.216.34', '10.1.2.3'],
    });
    expect(problem?.message).toMatch(/resolves to a private/);
  });

  it('accepts a public https URL and allows private ones only when configured', async () => {
    expect(
      await checkInputUrl('https://cdn.example.com/a.mp4', { allowPrivate: false, resolve: publicResolver }),
    ).toBeUndefined();
    expect(await checkInputUrl('http://127.0.0.1:9000/a.mp4', { allowPrivate: true })).toBeUndefined();
    expect(await checkInputUrl('ftp://example.com/a.mp4', { allowPrivate: true })).toBeDefined();
  });

  it('classifies addresses', () => {
    expect(isPrivateAddress('8.8.8.8')).toBe(false);
    expect(isPrivateAddress('2606:4700::1111')).toBe(false);
    expect(isPrivateAddress('192.168.0.1')).toBe(true);
    expect(isPrivateAddress('::ffff:10.0.0.1')).toBe(true);
  });
});
