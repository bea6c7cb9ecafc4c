import { isIP } from 'node:net';

const PRIVATE_V4: Array<[number, number]> = [
  [0x7f000000, 8], // 127.0.0.0/8
  [0x0a000000, 8], // 10.0.0.0/8
  [0xac100000, 12], // 172.16.0.0/12
  [0xc0a80000, 16], // 192.168.0.0/16
  [0xa9fe0000, 16], // 169.254.0.0/16
  [0x00000000, 8], // 0.0.0.0/8
  [0x64400000, 10], // 100.64.0.0/10
];

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** True for loopback, private, link-local and unspecified addresses (and `localhost`). */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host)?.[1];
  const candidate = v4mapped ?? host;
  if (isIP(candidate) === 4) {
    const n = ipv4ToInt(candidate);
    return PRIVATE_V4.some(([net, bits]) => n >>> (32 - bits) === net >>> (32 - bits));
  }
  if (isIP(candidate) === 6) {
    return (
      candidate === '::1' ||
      candidate === '::' ||
      /^f[cd][0-9a-f]{2}:/.test(candidate) ||
      /^fe[89ab][0-9a-f]:/.test(candidate)
    );
  }
  return false;
}
