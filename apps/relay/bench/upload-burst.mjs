// The hostile bench's upload client (hostile.mjs, section 5), run as its own process at the lowest
// CPU priority, so what the bench measures is the relay and not the client's own fight for the
// cores: it builds the bombs, says "ready", waits for "go" on stdin, uploads them all at once and
// prints one JSON line with each answer. Input: one JSON argument { url, capMs, uploads: [...] }.
import { mp3Bomb, mp4Bomb } from './bombs.mjs';

const o = JSON.parse(process.argv[2]);
const target = new URL(o.url);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) throw new Error('loopback targets only');
const bodies = new Map();
const bodyOf = (bomb) => {
  const key = `${bomb.type}:${bomb.size}`;
  if (!bodies.has(key)) bodies.set(key, bomb.type === 'mp3' ? mp3Bomb(bomb.size) : mp4Bomb(bomb.size));
  return bodies.get(key);
};
for (const u of o.uploads) bodyOf(u.bomb);

async function upload(u) {
  const body = bodyOf(u.bomb);
  const started = performance.now();
  let res;
  try {
    res = await fetch(`${o.url}/v1/uploads?kind=${u.kind}&filename=${u.name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${u.token}`, 'content-type': u.contentType },
      body,
      signal: AbortSignal.timeout(o.capMs),
    });
  } catch (error) {
    const why =
      error.name === 'TimeoutError'
        ? `no answer within ${o.capMs / 1000} s`
        : (error.cause?.message ?? error.message);
    return {
      name: u.name,
      bytes: body.length,
      status: 'none',
      seconds: (performance.now() - started) / 1000,
      message: why,
    };
  }
  const json = await res.json().catch(() => ({}));
  return {
    name: u.name,
    bytes: body.length,
    status: res.status,
    seconds: (performance.now() - started) / 1000,
    message: json.error?.message ?? json.status ?? '',
  };
}

process.stdout.write('ready\n');
process.stdin.once('data', async () => {
  const answers = await Promise.all(o.uploads.map(upload));
  process.stdout.write(`${JSON.stringify(answers)}\n`);
  process.exit(0);
});
