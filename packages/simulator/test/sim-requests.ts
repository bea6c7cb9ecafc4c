// Plain-fetch calls to the simulator's two providers, shared by the test files.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SIMULATOR_API_KEY, type Simulator } from '../src/index.js';

export const KEY = SIMULATOR_API_KEY;
export const AUTH = { authorization: `Bearer ${KEY}` };
export const JSON_AUTH = { ...AUTH, 'content-type': 'application/json' };
export const DS_HEADERS = { ...JSON_AUTH, 'x-dashscope-async': 'enable' };
export const VIDEO = 'talking-640x640-25fps-3s.mp4';

export function fixtureBytes(name: string): Buffer {
  return readFileSync(fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url)));
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are inspected freely
export type Json = Record<string, any>;

export async function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: init.headers ?? AUTH,
    ...(init.body === undefined
      ? {}
      : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
  });
  const text = await res.text();
  let body: Json = {};
  try {
    body = text ? (JSON.parse(text) as Json) : {};
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}

export function evolinkCreate(sim: Simulator, body: Json, headers: Record<string, string> = JSON_AUTH) {
  return call(`${sim.url}/v1/videos/generations`, { headers, body });
}

export function evolinkGet(sim: Simulator, id: string, headers: Record<string, string> = AUTH) {
  return call(`${sim.url}/v1/tasks/${id}`, { headers });
}

export function evolinkBody(sim: Simulator, extra: Json = {}): Json {
  return {
    model: 'videoretalk',
    video_url: sim.fixtureUrl(VIDEO),
    audio_url: sim.fixtureUrl('speech-4s.wav'),
    ...extra,
  };
}

export function dsCreate(
  sim: Simulator,
  body: Json,
  headers: Record<string, string> = DS_HEADERS,
  base = sim.dashscopeUrl,
  path = '/services/aigc/image2video/video-synthesis/',
) {
  return call(`${base}${path}`, { headers, body });
}

export function dsGet(
  sim: Simulator,
  id: string,
  base = sim.dashscopeUrl,
  headers: Record<string, string> = AUTH,
) {
  return call(`${base}/tasks/${id}`, { headers });
}

export function dsBody(sim: Simulator, input: Json = {}, parameters: Json = {}): Json {
  return {
    model: 'videoretalk',
    input: {
      video_url: sim.fixtureUrl(VIDEO),
      audio_url: sim.fixtureUrl('speech-4s.wav'),
      ref_image_url: '',
      ...input,
    },
    parameters,
  };
}

/** Polls `read` until `done` accepts its value; fails after `timeoutMs`. */
export async function waitFor<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs = 30_000, intervalMs = 20 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`waitFor: condition not met in ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface Receiver {
  url: string;
  hits: Array<{ at: number; body: Json; headers: IncomingMessage['headers'] }>;
  /** Status codes to answer, in order; the last one repeats. */
  answers: number[];
  close(): Promise<void>;
}

/** A local HTTP server that records POSTed callbacks. */
export async function startReceiver(answers: number[] = [200]): Promise<Receiver> {
  const receiver: Receiver = { url: '', hits: [], answers, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      receiver.hits.push({
        at: Date.now(),
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
        headers: req.headers,
      });
      const status = receiver.answers[Math.min(receiver.hits.length - 1, receiver.answers.length - 1)] ?? 200;
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return receiver;
}

/** A loopback port with nothing listening on it (connection refused). */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/video.mp4`;
}
