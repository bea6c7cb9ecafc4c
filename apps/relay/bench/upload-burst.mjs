// The hostile bench's upload client (hostile.mjs, section 5), run as its own process at the lowest
// CPU priority, so what the bench measures is the relay and not the client's own fight for the
// cores: it builds the bombs, says "ready", waits for one JSON line on stdin ({ url, tokens }: the
// relay and each upload's member token), uploads them all at once and prints one JSON line with
// each answer. Input: one JSON argument { capMs, uploads: [{ kind, contentType, name, bomb }] }.
import { mp3Bomb, mp4Bomb } from './bombs.mjs';

const o = JSON.parse(process.argv[2]);
const bodies = new Map();
const bodyOf = (bomb) => {
  const key = `${bomb.type}:${bomb.size}`;
  if (!bodies.has(key)) bodies.set(key, bomb.type === 'mp3' ? mp3Bomb(bomb.size) : mp4Bomb(bomb.size));
  return bodies.get(key);
};
for (const u of o.uploads) bodyOf(u.bomb);

async function upload(url, token, u) {
  const body = bodyOf(u.bomb);
  const started = performance.now();
  let res;
  try {
    res = await fetch(`${url}/v1/uploads?kind=${u.kind}&filename=${u.name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': u.contentType },
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
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', async (d) => {
  input += d;
  if (!input.includes('\n')) return;
  const { url, tokens } = JSON.parse(input);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname))
    throw new Error('loopback targets only');
  const answers = await Promise.all(o.uploads.map((u, i) => upload(url, tokens[i], u)));
  process.stdout.write(`${JSON.stringify(answers)}\n`);
  process.exit(0);
});
