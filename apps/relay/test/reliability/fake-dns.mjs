// Preloaded into the relay child (`node --import`) by the SSRF tests: names under `.rebind.test`
// resolve to chosen addresses, as a hostile DNS server would answer, without touching /etc/hosts.
// `flip.rebind.test` answers a public address first and loopback afterwards (DNS rebinding).
import dns from 'node:dns';
import { syncBuiltinESMExports } from 'node:module';

const TABLE = {
  'loopback.rebind.test': ['127.0.0.1'],
  'private.rebind.test': ['10.1.2.3'],
  'metadata.rebind.test': ['169.254.169.254'],
  'mapped.rebind.test': ['::ffff:127.0.0.1'],
  'v6loop.rebind.test': ['::1'],
  'mixed.rebind.test': ['93.184.216.34', '127.0.0.1'],
};
let flips = 0;

function answer(host) {
  const name = String(host).toLowerCase().replace(/\.$/, '');
  if (name === 'flip.rebind.test') return flips++ === 0 ? ['93.184.216.34'] : ['127.0.0.1'];
  return TABLE[name];
}

const family = (address) => (address.includes(':') ? 6 : 4);
const original = dns.lookup;
const originalPromise = dns.promises.lookup;

dns.lookup = function lookup(host, options, callback) {
  const cb = typeof options === 'function' ? options : callback;
  const opts = typeof options === 'object' && options !== null ? options : {};
  const addresses = answer(host);
  if (!addresses) return original.call(dns, host, options, callback);
  process.nextTick(() => {
    if (opts.all)
      cb(
        null,
        addresses.map((address) => ({ address, family: family(address) })),
      );
    else cb(null, addresses[0], family(addresses[0]));
  });
  return {};
};
dns.promises.lookup = async function lookup(host, options) {
  const addresses = answer(host);
  if (!addresses) return originalPromise.call(dns.promises, host, options);
  if (options?.all) return addresses.map((address) => ({ address, family: family(address) }));
  return { address: addresses[0], family: family(addresses[0]) };
};
syncBuiltinESMExports();
