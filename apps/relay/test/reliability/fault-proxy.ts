import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One upstream request as the proxy saw it. */
export interface ProxyLogEntry {
  method: string;
  path: string;
  atMs: number;
  /** The last 8 characters of the request's bearer key: which upstream key made it (never the key). */
  keyTail?: string;
  /** What the proxy did: forwarded, or the fault it applied. */
  outcome: 'forwarded' | FaultAction;
  status?: number;
  /**
   * Body bytes the proxy handed to the socket for a streamed `respond` (what the relay let in), or
   * passed on so far of a download it streams through.
   */
  bytesSent?: number;
}

export type FaultAction =
  | 'hold'
  | 'hold-response'
  | 'stall-body'
  | 'garble-response'
  | 'respond'
  | 'rewrite'
  | 'reset';

export interface FaultRule {
  match: (req: { method: string; path: string }) => boolean;
  action: FaultAction;
  /** How many requests the rule applies to (default 1; Infinity = until removed). */
  times?: number;
  /** For `respond`: the status, or a function giving one per request (a mixed storm). */
  status?: number | (() => number);
  headers?: Record<string, string>;
  body?: string;
  /**
   * For `respond`: stream this many bytes after `body` (a hostile upstream's endless answer), as
   * fast as the client reads them; the proxy stops when the client hangs up.
   */
  streamBytes?: number;
  /** For `rewrite`: the provider's real answer, changed (a lying upstream). */
  rewrite?: (answer: { body: Buffer; headers: Record<string, string> }) => {
    body: Buffer;
    headers: Record<string, string>;
  };
}

export interface ActiveRule {
  /** Resolves at the rule's first hit. */
  hit: Promise<void>;
  hits(): number;
  /** Lets held requests/responses go on (held bodies finish). */
  release(): void;
  remove(): void;
}

export interface FaultProxy {
  url: string;
  log: ProxyLogEntry[];
  add(rule: FaultRule): ActiveRule;
  close(): Promise<void>;
}

/** Writes `head` then `total` filler bytes, pausing on backpressure; counts what was handed over. */
function streamBody(res: http.ServerResponse, head: Buffer, total: number, entry: ProxyLogEntry): void {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  entry.bytesSent = 0;
  const pump = () => {
    while (sent < total && !res.destroyed) {
      const piece =
        sent === 0 && head.length > 0 ? head : chunk.subarray(0, Math.min(chunk.length, total - sent));
      sent += piece.length;
      entry.bytesSent = sent;
      if (!res.write(piece)) return;
    }
    if (!res.destroyed) res.end();
  };
  res.on('drain', pump);
  pump();
}

/** Classifies an upstream path the way the simulator's stats name it. */
export function endpointOf(method: string, path: string): string {
  const p = path.split('?')[0] ?? '';
  if (p.endsWith('/video-synthesis') || p.endsWith('/video-synthesis/')) return 'dashscope.create';
  if (/\/tasks\/[^/]+\/cancel$/.test(p)) return 'dashscope.cancel';
  if (/\/api\/v1\/tasks$|\/tasks$/.test(p) && method === 'GET') return 'dashscope.list';
  if (p === '/v1/videos/generations') return 'evolink.create';
  if (/^\/v1\/tasks\//.test(p)) return 'evolink.query';
  if (/\/tasks\//.test(p)) return 'dashscope.query';
  if (p.endsWith('/uploads') && path.includes('action=getPolicy')) return 'dashscope.getPolicy';
  if (p.startsWith('/oss/dashscope-results/') || p.startsWith('/cdn/evolink/')) return 'result.download';
  return 'other';
}

/**
 * An HTTP proxy in front of the simulator that can hold, stall, cut or replace chosen upstream
 * calls, so a test can kill the relay at an exact moment of a real exchange (the create reached
 * the provider but its answer did not reach the relay; a result download half-way). Result links
 * in JSON answers are rewritten to point at the proxy, so downloads pass through it too.
 */
export async function createFaultProxy(target: string): Promise<FaultProxy> {
  const targetUrl = new URL(target);
  const rules: (FaultRule & { left: number; state: RuleState })[] = [];
  const log: ProxyLogEntry[] = [];
  const t0 = Date.now();
  let self = '';

  interface RuleState {
    hits: number;
    released: boolean;
    waiters: (() => void)[];
    onHit: () => void;
  }

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const entry: ProxyLogEntry = { method, path, atMs: Date.now() - t0, outcome: 'forwarded' };
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer) entry.keyTail = bearer.slice(-8);
    log.push(entry);
    const rule = rules.find((r) => r.left > 0 && r.match({ method, path }));
    if (rule) {
      rule.left--;
      rule.state.hits++;
      rule.state.onHit();
      entry.outcome = rule.action;
    }
    const waitRelease = (state: RuleState) =>
      state.released ? Promise.resolve() : new Promise<void>((r) => state.waiters.push(r));

    if (rule?.action === 'reset') {
      req.socket.destroy();
      return;
    }
    if (rule?.action === 'respond') {
      entry.status = typeof rule.status === 'function' ? rule.status() : (rule.status ?? 503);
      req.resume();
      res.writeHead(entry.status, { 'content-type': 'application/json', ...rule.headers });
      if (rule.streamBytes === undefined) {
        res.end(rule.body ?? '');
        return;
      }
      streamBody(res, Buffer.from(rule.body ?? ''), rule.streamBytes, entry);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      if (rule?.action === 'hold') {
        // Never forwarded until released: the provider does not hear of it.
        await waitRelease(rule.state);
        if (res.destroyed) return;
      }
      const upstream = http.request(
        {
          host: targetUrl.hostname,
          port: targetUrl.port,
          method,
          path,
          headers: { ...req.headers, host: targetUrl.host },
        },
        (up) => {
          if (!rule && !String(up.headers['content-type'] ?? '').includes('json')) {
            // A download no rule touches streams through as it comes, so a slow one stays slow.
            if (up.statusCode !== undefined) entry.status = up.statusCode;
            res.writeHead(up.statusCode ?? 502, up.headers);
            entry.bytesSent = 0;
            up.on('data', (c: Buffer) => {
              entry.bytesSent = (entry.bytesSent ?? 0) + c.length;
            });
            up.on('error', () => res.destroy());
            up.on('aborted', () => res.destroy());
            up.pipe(res);
            return;
          }
          const parts: Buffer[] = [];
          up.on('data', (c: Buffer) => parts.push(c));
          up.on('error', () => res.destroy());
          up.on('aborted', () => res.destroy());
          up.on('end', async () => {
            if (!up.complete) {
              res.destroy();
              return;
            }
            let payload = Buffer.concat(parts);
            const type = String(up.headers['content-type'] ?? '');
            if (type.includes('json')) {
              payload = Buffer.from(payload.toString('utf8').split(targetUrl.origin).join(self));
            }
            if (up.statusCode !== undefined) entry.status = up.statusCode;
            const headers = { ...up.headers, 'content-length': String(payload.length) };
            delete headers['transfer-encoding'];
            if (rule?.action === 'hold-response') {
              // The provider acted on it; the relay does not learn the answer until released.
              await waitRelease(rule.state);
              if (res.destroyed) return;
            }
            if (rule?.action === 'garble-response') {
              // The provider acted on it, but its answer arrives as malformed JSON.
              const cut = payload.subarray(0, Math.floor(payload.length / 2));
              res.writeHead(200, {
                'content-type': 'application/json',
                'content-length': String(cut.length),
              });
              res.end(cut);
              return;
            }
            if (rule?.action === 'rewrite' && rule.rewrite) {
              const plain: Record<string, string> = {};
              for (const [k, v] of Object.entries(headers)) if (typeof v === 'string') plain[k] = v;
              const changed = rule.rewrite({ body: payload, headers: plain });
              res.writeHead(up.statusCode ?? 502, {
                ...changed.headers,
                'content-length': String(changed.body.length),
              });
              res.end(changed.body);
              return;
            }
            res.writeHead(up.statusCode ?? 502, headers);
            if (rule?.action === 'stall-body') {
              res.write(payload.subarray(0, Math.floor(payload.length / 2)));
              await waitRelease(rule.state);
              if (res.destroyed) return;
              res.end(payload.subarray(Math.floor(payload.length / 2)));
              return;
            }
            res.end(payload);
          });
        },
      );
      upstream.on('error', () => res.destroy());
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.end(Buffer.concat(chunks));
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: self,
    log,
    add(rule) {
      let onHit: () => void = () => undefined;
      const hit = new Promise<void>((r) => {
        onHit = r;
      });
      const state: RuleState = { hits: 0, released: false, waiters: [], onHit };
      const entry = { ...rule, left: rule.times ?? 1, state };
      rules.push(entry);
      return {
        hit,
        hits: () => state.hits,
        release() {
          state.released = true;
          for (const w of state.waiters.splice(0)) w();
        },
        remove() {
          entry.left = 0;
          state.released = true;
          for (const w of state.waiters.splice(0)) w();
        },
      };
    },
    async close() {
      for (const r of rules) {
        r.left = 0;
        r.state.released = true;
        for (const w of r.state.waiters.splice(0)) w();
      }
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
