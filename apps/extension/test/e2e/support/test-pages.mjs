// Test pages for the extension's end-to-end tests, in plain JavaScript so a person can serve them
// too: `pnpm test-pages` prints their addresses (see the README's "Try it" section).

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ALL_FORMATS,
  BufferTarget,
  Conversion,
  FilePathSource,
  Input,
  Mp4OutputFormat,
  Output,
} from 'mediabunny';

const FIXTURES = fileURLToPath(new URL('../../../../../packages/simulator/fixtures/', import.meta.url));

/** @param {string} name */
function fixture(name) {
  return join(FIXTURES, name);
}

/**
 * The 3 s talking-head fixture as fragmented MP4 without its sound, as a streaming site serves it
 * to a Media Source player. Packets are copied, not re-encoded, so this runs in Node in a moment.
 * @returns {Promise<Uint8Array>}
 */
export async function makeFragmentedTalk() {
  const input = new Input({
    source: new FilePathSource(fixture('talking-640x640-25fps-3s.mp4')),
    formats: ALL_FORMATS,
  });
  const target = new BufferTarget();
  const output = new Output({ format: new Mp4OutputFormat({ fastStart: 'fragmented' }), target });
  try {
    const conversion = await Conversion.init({ input, output, audio: { discard: true } });
    await conversion.execute();
  } finally {
    input.dispose();
  }
  return new Uint8Array(/** @type {ArrayBuffer} */ (target.buffer));
}

/**
 * The top-level boxes of an MP4, as `[type, start, end]` byte offsets.
 * @param {Uint8Array} bytes
 * @param {number} [from]
 * @param {number} [to]
 * @returns {Array<[string, number, number]>}
 */
function boxes(bytes, from = 0, to = bytes.length) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  /** @type {Array<[string, number, number]>} */
  const out = [];
  for (let at = from; at + 8 <= to; ) {
    let size = view.getUint32(at);
    if (size === 1) size = Number(view.getBigUint64(at + 8));
    if (size === 0) size = to - at;
    out.push([String.fromCharCode(...bytes.subarray(at + 4, at + 8)), at, at + size]);
    at += size;
  }
  return out;
}

/**
 * Cuts fragmented MP4 into an HLS stream as a CDN serves one: the init segment (`ftyp` + `moov`)
 * and `count` media segments of `pieceSec` each, segment i being the fixture's fragments with their
 * decode times (`tfdt`) moved on by i × pieceSec, so the stream plays the 3 s clip end to end.
 * Returns the files by name: `<name>.m3u8` (the media playlist), `<name>-master.m3u8` (one variant,
 * as players start from), `<name>-init.mp4` and `<name>-<i>.m4s`.
 * @param {Uint8Array} fragmented
 * @param {{ name?: string; count: number; pieceSec?: number; width?: number; height?: number }} options
 * @returns {Record<string, Uint8Array>}
 */
export function makeHlsStream(fragmented, options) {
  const name = options.name ?? 'hls-talk';
  const pieceSec = options.pieceSec ?? 3;
  const top = boxes(fragmented);
  const firstFragment = top.findIndex(([type]) => type === 'moof');
  const init = fragmented.subarray(0, top[firstFragment][1]);
  const moov = top.find(([type]) => type === 'moov');
  const timescale = mdhdTimescale(fragmented, moov);
  const fragments = top.filter(([type]) => type === 'moof' || type === 'mdat');
  const body = fragmented.subarray(fragments[0][1], fragments.at(-1)[2]);
  /** @type {Record<string, Uint8Array>} */
  const files = { [`${name}-init.mp4`]: init };
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', `#EXT-X-TARGETDURATION:${Math.ceil(pieceSec)}`];
  lines.push('#EXT-X-PLAYLIST-TYPE:VOD', '#EXT-X-MEDIA-SEQUENCE:0', `#EXT-X-MAP:URI="${name}-init.mp4"`);
  for (let i = 0; i < options.count; i++) {
    const segment = new Uint8Array(body);
    const view = new DataView(segment.buffer);
    const shift = BigInt(Math.round(i * pieceSec * timescale));
    for (const [type, start, end] of boxes(segment)) {
      if (type !== 'moof') continue;
      for (const [child, cStart, cEnd] of boxes(segment, start + 8, end)) {
        if (child !== 'traf') continue;
        for (const [leaf, at] of boxes(segment, cStart + 8, cEnd)) {
          if (leaf !== 'tfdt') continue;
          if (segment[at + 8] === 1) view.setBigUint64(at + 12, view.getBigUint64(at + 12) + shift);
          else view.setUint32(at + 12, view.getUint32(at + 12) + Number(shift));
        }
      }
    }
    files[`${name}-${i}.m4s`] = segment;
    lines.push(`#EXTINF:${pieceSec.toFixed(3)},`, `${name}-${i}.m4s`);
  }
  lines.push('#EXT-X-ENDLIST', '');
  const encoder = new TextEncoder();
  files[`${name}.m3u8`] = encoder.encode(lines.join('\n'));
  files[`${name}-master.m3u8`] = encoder.encode(
    [
      '#EXTM3U',
      `#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=${options.width ?? 640}x${options.height ?? 640},CODECS="avc1.64001e"`,
      `${name}.m3u8`,
      '',
    ].join('\n'),
  );
  return files;
}

/**
 * The timescale of the first track's `mdhd` inside `moov`.
 * @param {Uint8Array} bytes
 * @param {[string, number, number] | undefined} moov
 */
function mdhdTimescale(bytes, moov) {
  if (!moov) throw new Error('no moov box in the fragmented MP4');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  /** @param {number} start @param {number} end @param {string[]} path @returns {number} */
  const find = (start, end, path) => {
    const box = boxes(bytes, start, end).find(([type]) => type === path[0]);
    if (!box) throw new Error(`no ${path[0]} box in the fragmented MP4`);
    if (path.length > 1) return find(box[1] + 8, box[2], path.slice(1));
    const version = bytes[box[1] + 8];
    return view.getUint32(box[1] + (version === 1 ? 28 : 20));
  };
  return find(moov[1] + 8, moov[2], ['trak', 'mdia', 'mdhd']);
}

/** hls.js as a page loads it from its own server. */
const HLS_JS = createRequire(import.meta.url).resolve('hls.js');

/** @type {Record<string, string>} */
const TYPES = {
  '.mp4': 'video/mp4',
  '.wav': 'audio/wav',
  '.mp3': 'audio/mpeg',
  '.png': 'image/png',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.m4s': 'video/iso.segment',
  '.webm': 'video/webm',
};

/**
 * Test pages with `<video>`s, and the fixtures they play, on 127.0.0.1. `media` adds files made at
 * test time (served next to the fixtures under `/media/<name>`).
 */
export async function startPageServer(options = {}) {
  // Playlists named `*-once*.m3u8` answer only their first request, as signed addresses that expire.
  const servedOnce = new Set();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/vendor/hls.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(await readFile(HLS_JS));
      return;
    }
    if (url.pathname.startsWith('/media/')) {
      const name = decodeURIComponent(url.pathname.slice('/media/'.length));
      if (!/^[\w.-]+$/.test(name)) {
        res.writeHead(400).end();
        return;
      }
      if (/-once.*\.m3u8$/.test(name)) {
        if (servedOnce.has(name)) {
          res.writeHead(403).end();
          return;
        }
        servedOnce.add(name);
      }
      const made = options.media?.[name];
      const bytes = made ? Buffer.from(made) : await readFile(fixture(name)).catch(() => null);
      if (!bytes) {
        res.writeHead(404).end();
        return;
      }
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      const type = TYPES[extname(name)] ?? 'application/octet-stream';
      // `?cors=1`: the file may be read by pages of another origin (a CDN that sends CORS headers).
      const cors =
        url.searchParams.get('cors') === '1' && req.headers.origin
          ? { 'access-control-allow-origin': req.headers.origin, 'access-control-allow-credentials': 'true' }
          : {};
      if (range) {
        const start = Number(range[1]);
        const end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
        res.writeHead(206, {
          ...cors,
          'content-type': type,
          'content-range': `bytes ${start}-${end}/${bytes.length}`,
          'content-length': end - start + 1,
          'accept-ranges': 'bytes',
        });
        res.end(bytes.subarray(start, end + 1));
        return;
      }
      res.writeHead(200, {
        ...cors,
        'content-type': type,
        'content-length': bytes.length,
        'accept-ranges': 'bytes',
      });
      res.end(req.method === 'HEAD' ? undefined : bytes);
      return;
    }
    const page = PAGES[url.pathname];
    if (!page) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(url.searchParams));
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', () => done(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done(undefined));
      }),
  };
}

const STYLE =
  '<style>body{font-family:sans-serif;margin:16px} video{display:block;width:480px;height:360px;background:#000}</style>';

/** @type {Record<string, (query: URLSearchParams) => string>} */
const PAGES = {
  // A plain <video>; `?src=` picks the file (and may carry a simulator scenario marker), `?at=` where
  // the player stands (window.playerReady turns true once it does); `?origin=` serves the file from
  // another origin (e.g. http://localhost:<port>), `?crossorigin=1` asks for it with CORS.
  '/watch': (query) => `<!doctype html><title>${query.get('title') ?? 'Team demo video'}</title>${STYLE}
<h1>Team demo video</h1>
<video id="v" src="${query.get('origin') ?? ''}/media/${query.get('src') ?? 'talking-640x640-25fps-3s.mp4'}"${query.get('crossorigin') === '1' ? ' crossorigin="anonymous"' : ''} muted playsinline preload="auto"></video>
<script type="module">
const video = document.getElementById('v');
if (video.readyState < 1) await new Promise((done) => video.addEventListener('loadedmetadata', done, { once: true }));
const at = ${Number(query.get('at') ?? 0)};
if (at > 0) {
  video.currentTime = at;
  await new Promise((done) => video.addEventListener('seeked', done, { once: true }));
}
window.playerReady = true;
</script>`,
  // Several players on one page, each its own file: the one right-clicked is the one used.
  '/several': () => `<!doctype html><title>Three talks</title>${STYLE}
<h1>Three talks</h1>
<video id="a" src="/media/talking-640x480-25fps-3s.mp4" muted playsinline preload="auto"></video>
<video id="b" src="/media/talking-640x640-25fps-3s.mp4" muted playsinline preload="auto"></video>
<video id="c" src="/media/small-320x240-10fps-3s.mp4" muted playsinline preload="auto"></video>`,
  // A page with no video at all (the popup's list says so).
  '/article': () => `<!doctype html><title>Release notes</title>${STYLE}
<h1>Release notes</h1>
<p>Nothing to watch here.</p>`,
  // A playing player whose transparent overlay covers its video, next to a bigger paused decoy.
  '/overlay': () => `<!doctype html><title>Custom player</title>${STYLE}
<video id="decoy" src="/media/small-320x240-10fps-3s.mp4" muted preload="auto" style="width:560px;height:420px"></video>
<div id="player" style="position:relative;width:320px;height:240px;margin-top:8px">
  <video id="v" src="/media/talking-640x640-25fps-3s.mp4" muted autoplay loop playsinline style="position:absolute;inset:0;width:320px;height:240px"></video>
  <div id="overlay" style="position:absolute;inset:0;background:transparent"></div>
</div>`,
  // A Media Source stream: its blob: URL holds no file.
  '/stream': () => `<!doctype html><title>Live stream</title>${STYLE}
<video id="v" muted></video>
<script>const ms = new MediaSource(); document.getElementById('v').src = URL.createObjectURL(ms);</script>`,
  // A streamed player as the big sites have (see mseScript); \`?controls=1\` shows the browser's
  // play/pause bar, for a person trying it by hand (the README's walk-through).
  '/mse': (query) => `<!doctype html><title>${query.get('title') ?? 'Streamed talk'}</title>${STYLE}
<h1>Streamed talk</h1>
<video id="v" muted playsinline${query.get('controls') === '1' ? ' controls' : ''}></video>
<script type="module">
const video = document.getElementById('v');
${mseScript(query)}</script>`,
  // A web-component player: the Media Source video and the overlay over it live in an open shadow root.
  '/shadow': (query) => `<!doctype html><title>Shadow player</title>${STYLE}
<h1>Shadow player</h1>
<div id="host"></div>
<script type="module">
const root = document.getElementById('host').attachShadow({ mode: 'open' });
root.innerHTML = '<div style="position:relative;width:480px;height:360px"><video muted playsinline style="width:480px;height:360px;background:#000"></video><div style="position:absolute;inset:0"></div></div>';
const video = root.querySelector('video');
${mseScript(query)}</script>`,
  // Another page's player embedded in an iframe: \`?inner=\` is its path (same origin).
  '/frame': (query) => `<!doctype html><title>Embedding page</title>${STYLE}
<h1>Embedding page</h1>
<iframe src="${query.get('inner') ?? '/watch'}" width="520" height="480" style="border:1px solid #999"></iframe>`,
  // A whole file the page holds: fetched, then played from a blob: URL.
  '/blob': () => `<!doctype html><title>Blob video</title>${STYLE}
<h1>Blob video</h1>
<video id="v" muted playsinline></video>
<script type="module">
const video = document.getElementById('v');
const file = await (await fetch('/media/talking-640x640-25fps-3s.mp4')).blob();
video.src = URL.createObjectURL(file);
if (video.readyState < 2) await new Promise((done) => video.addEventListener('loadeddata', done, { once: true }));
window.playerReady = true;
</script>`,
  // An HLS stream played by hls.js (a page script feeding Media Source), as many sites and embeds do:
  // \`?src=\` is the playlist the player starts from (the master playlist), \`?at=\` where it stands.
  '/hls': (query) => `<!doctype html><title>${query.get('title') ?? 'HLS talk'}</title>${STYLE}
<h1>HLS talk</h1>
<video id="v" muted playsinline></video>
<script src="/vendor/hls.js"></script>
<script type="module">
const video = document.getElementById('v');
const hls = new Hls();
hls.loadSource('/media/${query.get('src') ?? 'hls-talk-master.m3u8'}');
hls.attachMedia(video);
await new Promise((done) => hls.once(Hls.Events.FRAG_BUFFERED, done));
const at = ${Number(query.get('at') ?? 0)};
if (at > 0) {
  video.currentTime = at;
  await new Promise((done) => video.addEventListener('seeked', done, { once: true }));
}
if (video.readyState < 2) await new Promise((done) => video.addEventListener('loadeddata', done, { once: true }));
window.playerReady = true;
</script>`,
};

/**
 * The player script of the stream pages, for a \`video\` already in scope: appends fragmented MP4
 * (\`?src=\`, made at test time) \`?repeat=\` times end to end into a MediaSource, then stands at
 * \`?at=\` seconds. \`?protect=1\` sets Clear Key media keys first, as a DRM player would.
 * \`window.playerReady\` turns true once the stream is buffered and positioned.
 * @param {URLSearchParams} query
 */
function mseScript(query) {
  return `if (${query.get('protect') === '1'}) {
  const access = await navigator.requestMediaKeySystemAccess('org.w3.clearkey', [
    { initDataTypes: ['keyids'], videoCapabilities: [{ contentType: '${MSE_TYPE}' }] },
  ]);
  await video.setMediaKeys(await access.createMediaKeys());
}
const source = new MediaSource();
video.src = URL.createObjectURL(source);
await new Promise((done) => source.addEventListener('sourceopen', done, { once: true }));
const buffer = source.addSourceBuffer('${MSE_TYPE}');
const bytes = await (await fetch('/media/${query.get('src') ?? 'talk-fragmented.mp4'}')).arrayBuffer();
const pieceSec = ${Number(query.get('pieceSec') ?? 3)};
for (let i = 0; i < ${Number(query.get('repeat') ?? 1)}; i++) {
  buffer.timestampOffset = i * pieceSec;
  buffer.appendBuffer(bytes);
  await new Promise((done) => buffer.addEventListener('updateend', done, { once: true }));
}
source.endOfStream();
const at = ${Number(query.get('at') ?? 0)};
if (at > 0) {
  video.currentTime = at;
  await new Promise((done) => video.addEventListener('seeked', done, { once: true }));
}
if (video.readyState < 2) await new Promise((done) => video.addEventListener('loadeddata', done, { once: true }));
window.playerReady = true;
`;
}

/** The codec string of the fragmented test stream (H.264 High, as the fixture). */
const MSE_TYPE = 'video/mp4; codecs="avc1.64001e"';

// `node test-pages.mjs`: serve the pages with the generated stream until Ctrl-C.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const pages = await startPageServer({ media: { 'talk-fragmented.mp4': await makeFragmentedTalk() } });
  console.log(`Test pages on ${pages.url}:
  ${pages.url}/mse?repeat=20&controls=1   a 60 s Media Source stream (the 3 s test clip 20 times), with play/pause
  ${pages.url}/mse?protect=1              the same stream with Clear Key media keys (protected)
  ${pages.url}/watch                      a plain <video src=file.mp4>
  ${pages.url}/overlay                    a player whose overlay covers its video
Ctrl-C stops the server.`);
}
