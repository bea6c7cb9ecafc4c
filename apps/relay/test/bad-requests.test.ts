import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiInit, FIXTURES, type Harness, startRelay } from './harness.js';

const ADMIN_TOKEN = 'admin-token-for-the-bad-request-suite-0123456789';

interface Case {
  name: string;
  method: string;
  path: string | (() => string);
  init?: ApiInit | (() => ApiInit);
  status: number;
  code: string;
  field?: string;
  message?: RegExp;
}

describe('the relay refuses bad requests', () => {
  let h: Harness;
  let otherToken: string;
  let revokedToken: string;
  let foreignJobId: string;
  let foreignUploadId: string;
  let audioUploadId: string;
  let videoUploadId: string;
  let smallVideoUploadId: string;
  const okBody = () => ({ video: { uploadId: videoUploadId }, audio: { uploadId: audioUploadId } });
  const withVideoUrl = (url: string): ApiInit => ({
    body: { video: { url }, audio: { uploadId: audioUploadId } },
  });

  beforeAll(async () => {
    h = await startRelay({
      provider: 'dashscope',
      jobMs: 300,
      // Uploads may be originals of up to 2 GiB by default; 30 MB keeps the too-large case small.
      env: {
        RETALK_ADMIN_TOKEN: ADMIN_TOKEN,
        RETALK_ALLOW_PRIVATE_URLS: 'false',
        RETALK_MAX_UPLOAD_MB: '30',
      },
    });
    otherToken = await h.addMember('bob');
    revokedToken = await h.addMember('carol');
    await h.relay.context.store.revokeMember('carol', Date.now());
    videoUploadId = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    // Outside the provider's limits, yet accepted: conform can fix it (issue 8).
    smallVideoUploadId = await h.upload('video', 'small-320x240-10fps-3s.mp4');
    audioUploadId = await h.upload('audio', 'speech-4s.wav');
    foreignUploadId = await h.upload('video', 'talking-640x640-25fps-3s.mp4', otherToken);
    const bobAudio = await h.upload('audio', 'speech-4s.wav', otherToken);
    // Bob's job never finishes, so it stays unfinished for the cases below.
    h.sim.nextScenario('stuck');
    const job = await h.api('POST', '/v1/jobs', {
      token: otherToken,
      body: { video: { uploadId: foreignUploadId }, audio: { uploadId: bobAudio } },
    });
    foreignJobId = job.json.id;
  });
  afterAll(async () => {
    await h.close();
  });

  const cases: Case[] = [
    {
      name: 'malformed JSON',
      method: 'POST',
      path: '/v1/jobs',
      init: { rawBody: '{"video":', headers: { 'content-type': 'application/json' } },
      status: 400,
      code: 'invalid_json',
    },
    {
      name: 'a JSON array body',
      method: 'POST',
      path: '/v1/jobs',
      init: { body: [] },
      status: 400,
      code: 'invalid_request',
    },
    {
      name: 'a JSON string body',
      method: 'POST',
      path: '/v1/jobs',
      init: { body: 'video' },
      status: 400,
      code: 'invalid_request',
    },
    {
      name: 'an empty JSON body',
      method: 'POST',
      path: '/v1/jobs',
      init: { rawBody: '', headers: { 'content-type': 'application/json' } },
      status: 400,
      code: 'invalid_json',
    },
    {
      name: 'a text/plain body',
      method: 'POST',
      path: '/v1/jobs',
      init: { rawBody: 'video=x', headers: { 'content-type': 'text/plain' } },
      status: 415,
      code: 'unsupported_media_type',
    },
    {
      name: 'a form body',
      method: 'POST',
      path: '/v1/jobs',
      init: { rawBody: 'video=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      status: 415,
      code: 'unsupported_media_type',
    },
    {
      name: 'a missing video',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { audio: { uploadId: audioUploadId } } }),
      status: 400,
      code: 'invalid_request',
      field: 'video',
      message: /required/,
    },
    {
      name: 'a missing audio',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { video: { uploadId: videoUploadId } } }),
      status: 400,
      code: 'invalid_request',
      field: 'audio',
    },
    {
      name: 'video as a string',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { video: 'https://example.com/v.mp4', audio: { uploadId: audioUploadId } } }),
      status: 400,
      code: 'invalid_request',
      field: 'video',
    },
    {
      name: 'video as an empty object',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { video: {}, audio: { uploadId: audioUploadId } } }),
      status: 400,
      code: 'invalid_request',
      field: 'video',
      message: /exactly one of/,
    },
    {
      name: 'video with both url and uploadId',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({
        body: {
          video: { url: 'https://example.com/v.mp4', uploadId: videoUploadId },
          audio: { uploadId: audioUploadId },
        },
      }),
      status: 400,
      code: 'invalid_request',
      field: 'video',
    },
    {
      name: 'video.url as a number',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { video: { url: 42 }, audio: { uploadId: audioUploadId } } }),
      status: 400,
      code: 'invalid_request',
      field: 'video.url',
    },
    {
      name: 'faceThreshold below 120',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { ...okBody(), faceThreshold: 100 } }),
      status: 400,
      code: 'invalid_request',
      field: 'faceThreshold',
      message: /at least 120/,
    },
    {
      name: 'faceThreshold above 200',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { ...okBody(), faceThreshold: 201 } }),
      status: 400,
      code: 'invalid_request',
      field: 'faceThreshold',
      message: /at most 200/,
    },
    {
      name: 'faceThreshold as a string',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { ...okBody(), faceThreshold: '150' } }),
      status: 400,
      code: 'invalid_request',
      field: 'faceThreshold',
    },
    {
      name: 'a fractional faceThreshold',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { ...okBody(), faceThreshold: 150.5 } }),
      status: 400,
      code: 'invalid_request',
      field: 'faceThreshold',
    },
    {
      name: 'videoExtension as a string',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { ...okBody(), videoExtension: 'yes' } }),
      status: 400,
      code: 'invalid_request',
      field: 'videoExtension',
      message: /boolean/,
    },
    {
      name: 'a misspelt field',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { ...okBody(), face_threshold: 150 } }),
      status: 400,
      code: 'invalid_request',
      message: /face_threshold/,
    },
    {
      name: 'a 1000-character title',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { ...okBody(), title: 'x'.repeat(1000) } }),
      status: 400,
      code: 'invalid_request',
      field: 'title',
    },
    {
      name: 'a javascript: sourcePageUrl',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { ...okBody(), sourcePageUrl: 'javascript:alert(1)' } }),
      status: 400,
      code: 'invalid_request',
      field: 'sourcePageUrl',
    },
    {
      name: 'a prototype-poisoning body',
      method: 'POST',
      path: '/v1/jobs',
      init: {
        rawBody: '{"__proto__":{"admin":true},"video":{"url":"https://example.com/a.mp4"}}',
        headers: { 'content-type': 'application/json' },
      },
      status: 400,
      code: 'invalid_json',
    },
    {
      name: 'a file: URL',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl('file:///etc/passwd'),
      status: 400,
      code: 'url_not_allowed',
      field: 'video.url',
      message: /only http and https/,
    },
    {
      name: 'a gopher: URL',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl('gopher://example.com/1'),
      status: 400,
      code: 'url_not_allowed',
      field: 'video.url',
    },
    {
      name: 'a loopback URL',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl('http://127.0.0.1:8787/v1/me'),
      status: 400,
      code: 'url_not_allowed',
      field: 'video.url',
      message: /private or loopback/,
    },
    {
      name: 'a decimal-IP loopback URL',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl('http://2130706433/v.mp4'),
      status: 400,
      code: 'url_not_allowed',
      field: 'video.url',
    },
    {
      name: 'a hex-IP loopback URL',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl('http://0x7f.1/v.mp4'),
      status: 400,
      code: 'url_not_allowed',
      field: 'video.url',
    },
    {
      name: 'an IPv6 loopback URL',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl('http://[::1]/v.mp4'),
      status: 400,
      code: 'url_not_allowed',
      field: 'video.url',
    },
    {
      name: 'an IPv4-mapped IPv6 loopback URL',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl('http://[::ffff:127.0.0.1]/v.mp4'),
      status: 400,
      code: 'url_not_allowed',
      field: 'video.url',
    },
    {
      name: 'the cloud metadata address',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl('http://169.254.169.254/latest/meta-data/'),
      status: 400,
      code: 'url_not_allowed',
      field: 'video.url',
    },
    {
      name: 'a private 10/8 URL',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl('http://10.0.0.7/v.mp4'),
      status: 400,
      code: 'url_not_allowed',
      field: 'video.url',
    },
    {
      name: 'a private 192.168/16 audio URL',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({
        body: { video: { uploadId: videoUploadId }, audio: { url: 'http://192.168.1.1/a.wav' } },
      }),
      status: 400,
      code: 'url_not_allowed',
      field: 'audio.url',
    },
    {
      name: 'a localhost URL',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl('http://localhost:8080/v.mp4'),
      status: 400,
      code: 'url_not_allowed',
      field: 'video.url',
      message: /local host name/,
    },
    {
      name: 'a URL with credentials',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl('https://user:pass@example.com/v.mp4'),
      status: 400,
      code: 'url_not_allowed',
      field: 'video.url',
    },
    {
      name: 'a URL that is not a URL',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl('not a url'),
      status: 400,
      code: 'url_not_allowed',
      field: 'video.url',
    },
    {
      name: 'a 3000-character URL',
      method: 'POST',
      path: '/v1/jobs',
      init: () => withVideoUrl(`https://example.com/${'a'.repeat(3000)}`),
      status: 400,
      code: 'invalid_request',
      field: 'video.url',
      message: /at most 2048/,
    },
    {
      name: "another member's upload",
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { video: { uploadId: foreignUploadId }, audio: { uploadId: audioUploadId } } }),
      status: 400,
      code: 'invalid_request',
      field: 'video.uploadId',
    },
    {
      name: 'an audio upload used as video',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { video: { uploadId: audioUploadId }, audio: { uploadId: audioUploadId } } }),
      status: 400,
      code: 'invalid_request',
      field: 'video.uploadId',
      message: /audio upload/,
    },
    {
      name: 'a 300-character Idempotency-Key',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: okBody(), headers: { 'idempotency-key': 'k'.repeat(300) } }),
      status: 400,
      code: 'invalid_request',
      field: 'idempotency-key',
    },
    {
      name: 'a body over the size limit',
      method: 'POST',
      path: '/v1/jobs',
      init: {
        rawBody: JSON.stringify({ title: 'x'.repeat(300_000) }),
        headers: { 'content-type': 'application/json' },
      },
      status: 413,
      code: 'payload_too_large',
    },
    {
      name: 'an unknown job id',
      method: 'GET',
      path: '/v1/jobs/job_doesnotexist1234',
      status: 404,
      code: 'not_found',
    },
    {
      name: "another member's job",
      method: 'GET',
      path: () => `/v1/jobs/${foreignJobId}`,
      status: 404,
      code: 'not_found',
    },
    {
      name: "a cancel of another member's job",
      method: 'POST',
      path: () => `/v1/jobs/${foreignJobId}/cancel`,
      status: 404,
      code: 'not_found',
    },
    {
      name: "the result of another member's job",
      method: 'GET',
      path: () => `/v1/jobs/${foreignJobId}/result`,
      status: 404,
      code: 'not_found',
    },
    {
      name: 'a dot-dot job path',
      method: 'GET',
      path: '/v1/jobs/..%2F..%2Fetc%2Fpasswd',
      status: 404,
      code: 'not_found',
    },
    {
      name: 'a traversal outside /v1',
      method: 'GET',
      path: '/v1/jobs/../../etc/passwd',
      status: 404,
      code: 'not_found',
    },
    {
      name: 'a NUL byte in a job id',
      method: 'GET',
      path: '/v1/jobs/job_%00',
      status: 404,
      code: 'not_found',
    },
    {
      name: 'a limit of 0',
      method: 'GET',
      path: '/v1/jobs?limit=0',
      status: 400,
      code: 'invalid_request',
      field: 'limit',
    },
    {
      name: 'a limit that is not a number',
      method: 'GET',
      path: '/v1/jobs?limit=abc',
      status: 400,
      code: 'invalid_request',
      field: 'limit',
    },
    {
      name: 'an unknown status filter',
      method: 'GET',
      path: '/v1/jobs?status=done',
      status: 400,
      code: 'invalid_request',
      field: 'status',
      message: /received, preparing, submitted/,
    },
    {
      name: 'a forged cursor',
      method: 'GET',
      path: '/v1/jobs?cursor=Zm9yZ2Vk',
      status: 400,
      code: 'invalid_request',
      field: 'cursor',
    },
    {
      name: 'an unknown query parameter',
      method: 'GET',
      path: '/v1/jobs?sort=asc',
      status: 400,
      code: 'invalid_request',
      message: /sort/,
    },
    {
      name: 'no token',
      method: 'GET',
      path: '/v1/me',
      init: { token: null },
      status: 401,
      code: 'unauthorized',
      message: /Bearer rtk_/,
    },
    {
      name: 'a malformed token',
      method: 'GET',
      path: '/v1/me',
      init: { headers: { authorization: 'Bearer abc' } },
      status: 401,
      code: 'unauthorized',
    },
    {
      name: 'an unknown rtk_ token',
      method: 'GET',
      path: '/v1/me',
      init: { headers: { authorization: `Bearer rtk_${'A'.repeat(43)}` } },
      status: 401,
      code: 'unauthorized',
      message: /not known/,
    },
    {
      name: 'a truncated token',
      method: 'GET',
      path: '/v1/me',
      init: () => ({ headers: { authorization: `Bearer ${h.token.slice(0, -1)}` } }),
      status: 401,
      code: 'unauthorized',
    },
    {
      name: 'Basic auth',
      method: 'GET',
      path: '/v1/me',
      init: { headers: { authorization: 'Basic YWxpY2U6cHc=' } },
      status: 401,
      code: 'unauthorized',
    },
    {
      name: 'a revoked token',
      method: 'GET',
      path: '/v1/me',
      init: () => ({ token: revokedToken }),
      status: 401,
      code: 'unauthorized',
      message: /revoked/,
    },
    {
      name: 'the provider key as a member token',
      method: 'GET',
      path: '/v1/me',
      init: { headers: { authorization: 'Bearer sk-live-RETALK-TEST-KEY-5f0c3a9e71d24b8c' } },
      status: 401,
      code: 'unauthorized',
    },
    {
      name: 'an unknown upload kind',
      method: 'PUT',
      path: '/v1/uploads?kind=document&filename=a.pdf',
      init: { rawBody: 'x', headers: { 'content-type': 'application/octet-stream' } },
      status: 400,
      code: 'invalid_request',
      field: 'kind',
      message: /video, audio, image/,
    },
    {
      name: 'an upload without a filename',
      method: 'PUT',
      path: '/v1/uploads?kind=audio',
      init: { rawBody: 'x', headers: { 'content-type': 'audio/wav' } },
      status: 400,
      code: 'invalid_request',
      field: 'filename',
    },
    {
      name: 'an upload file name with a path',
      method: 'PUT',
      path: '/v1/uploads?kind=audio&filename=..%2F..%2Fetc%2Fpasswd',
      init: { rawBody: 'x', headers: { 'content-type': 'audio/wav' } },
      status: 400,
      code: 'invalid_request',
      field: 'filename',
    },
    {
      name: 'an upload file name with a right-to-left override (findings L15)',
      method: 'PUT',
      path: '/v1/uploads?kind=audio&filename=x%E2%80%AEvaw.exe',
      init: { rawBody: 'x', headers: { 'content-type': 'audio/wav' } },
      status: 400,
      code: 'invalid_request',
      field: 'filename',
    },
    {
      name: 'an upload file name with a C1 control or a line separator (findings L15)',
      method: 'PUT',
      path: '/v1/uploads?kind=audio&filename=a%C2%85b%E2%80%A8c.wav',
      init: { rawBody: 'x', headers: { 'content-type': 'audio/wav' } },
      status: 400,
      code: 'invalid_request',
      field: 'filename',
    },
    {
      name: 'an upload with an HTML content type',
      method: 'PUT',
      path: '/v1/uploads?kind=audio&filename=a.wav',
      init: { rawBody: '<script>', headers: { 'content-type': 'text/html' } },
      status: 415,
      code: 'unsupported_media_type',
    },
    {
      name: 'an empty upload',
      method: 'PUT',
      path: '/v1/uploads?kind=audio&filename=a.wav',
      init: { rawBody: '', headers: { 'content-type': 'audio/wav' } },
      status: 400,
      code: 'invalid_request',
      field: 'body',
    },
    {
      name: 'a script disguised as audio',
      method: 'PUT',
      path: '/v1/uploads?kind=audio&filename=a.wav',
      init: { rawBody: '#!/bin/sh\nrm -rf /\n'.repeat(50), headers: { 'content-type': 'audio/wav' } },
      status: 422,
      code: 'media_rejected',
      field: 'body',
    },
    {
      name: 'a 1-second audio upload',
      method: 'PUT',
      path: '/v1/uploads?kind=audio&filename=short.wav',
      init: () => ({
        rawBody: fs.readFileSync(path.join(FIXTURES, 'short-1s.wav')),
        headers: { 'content-type': 'audio/wav' },
      }),
      status: 422,
      code: 'media_rejected',
      field: 'media.duration',
    },
    {
      name: 'a 320x240 10 fps video sent with conform off',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({
        body: { video: { uploadId: smallVideoUploadId }, audio: { uploadId: audioUploadId }, conform: 'off' },
      }),
      status: 422,
      code: 'media_rejected',
    },
    {
      name: 'a clip with conform off',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({
        body: {
          video: { uploadId: videoUploadId, endSec: 2.5 },
          audio: { uploadId: audioUploadId },
          conform: 'off',
        },
      }),
      status: 400,
      code: 'invalid_request',
      field: 'conform',
      message: /needs "conform": "auto"/,
    },
    {
      name: 'a clip on the reference image',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({
        body: { ...okBody(), refImage: { uploadId: videoUploadId, startSec: 1 } },
      }),
      status: 400,
      code: 'invalid_request',
      field: 'refImage.startSec',
    },
    {
      name: 'a clip that ends before it starts',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({
        body: {
          video: { uploadId: videoUploadId, startSec: 2, endSec: 1 },
          audio: { uploadId: audioUploadId },
        },
      }),
      status: 400,
      code: 'invalid_request',
      field: 'video.endSec',
      message: /after startSec/,
    },
    {
      name: 'an unknown conform mode',
      method: 'POST',
      path: '/v1/jobs',
      init: () => ({ body: { ...okBody(), conform: 'always' } }),
      status: 400,
      code: 'invalid_request',
      field: 'conform',
    },
    {
      name: 'a WAV uploaded as an image',
      method: 'PUT',
      path: '/v1/uploads?kind=image&filename=a.png',
      init: () => ({
        rawBody: fs.readFileSync(path.join(FIXTURES, 'speech-4s.wav')),
        headers: { 'content-type': 'image/png' },
      }),
      status: 422,
      code: 'media_rejected',
    },
    {
      name: 'an audio upload over 30 MB',
      method: 'PUT',
      path: '/v1/uploads?kind=audio&filename=big.wav',
      init: { rawBody: new Uint8Array(31 * 1024 * 1024), headers: { 'content-type': 'audio/wav' } },
      status: 413,
      code: 'payload_too_large',
      field: 'body',
    },
    {
      name: 'an unknown route',
      method: 'GET',
      path: '/v1/nope',
      status: 404,
      code: 'not_found',
      message: /GET \/v1\/nope/,
    },
    {
      name: 'an unknown method on a known path',
      method: 'DELETE',
      path: '/v1/jobs',
      status: 404,
      code: 'not_found',
    },
    {
      name: 'a file link with a bad signature',
      method: 'GET',
      path: () => `/files/uploads/${videoUploadId}?exp=9999999999&sig=${'A'.repeat(43)}`,
      init: { token: null },
      status: 403,
      code: 'forbidden',
    },
    {
      name: 'a file link without a signature',
      method: 'GET',
      path: () => `/files/uploads/${videoUploadId}`,
      init: { token: null },
      status: 403,
      code: 'forbidden',
    },
    {
      name: 'an expired file link',
      method: 'GET',
      path: () => `/files/uploads/${videoUploadId}?exp=1&sig=${'A'.repeat(43)}`,
      init: { token: null },
      status: 403,
      code: 'forbidden',
    },
    {
      name: 'an unknown callback URL',
      method: 'POST',
      path: '/v1/callbacks/not-a-real-token',
      init: { body: { status: 'completed' } },
      status: 404,
      code: 'not_found',
    },
    {
      name: 'an admin route with a member token',
      method: 'GET',
      path: '/admin/members',
      status: 401,
      code: 'unauthorized',
    },
    {
      name: 'a member creation with a bad name',
      method: 'POST',
      path: '/admin/members',
      init: { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: { name: '../x' } },
      status: 400,
      code: 'invalid_request',
      field: 'name',
    },
    {
      name: 'a result link for an unfinished job',
      method: 'POST',
      path: () => `/v1/jobs/${foreignJobId}/result-link`,
      init: () => ({ token: otherToken }),
      status: 409,
      code: 'result_not_ready',
    },
    {
      name: 'a path segment over 200 characters, refused by the router (findings L16)',
      method: 'GET',
      path: `/v1/jobs/${'a'.repeat(300)}`,
      status: 414,
      code: 'invalid_request',
      field: 'path',
    },
    {
      name: 'a broken percent-encoding in the path, refused by the router (findings L16)',
      method: 'GET',
      path: '/v1/jobs/%ff',
      status: 400,
      code: 'invalid_request',
      field: 'path',
    },
    {
      name: 'an SSE resume from a forged id',
      method: 'GET',
      path: '/v1/events',
      init: { token: null, headers: { 'last-event-id': '1' } },
      status: 401,
      code: 'unauthorized',
    },
  ];

  it('has at least 40 bad-request cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)('answers $name with $status $code and a clear message', async (c) => {
    const p = typeof c.path === 'function' ? c.path() : c.path;
    const init = typeof c.init === 'function' ? c.init() : (c.init ?? {});
    const res = await h.api(c.method, p, init);
    expect(res.status, res.text).toBe(c.status);
    expect(res.json?.error?.code, res.text).toBe(c.code);
    expect(res.json.error.message.length).toBeGreaterThan(15);
    if (c.field) expect(res.json.error.field).toBe(c.field);
    if (c.message) expect(res.json.error.message).toMatch(c.message);
  });

  it('gives each answer a random request id that says nothing about how many requests came before', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++)
      ids.push((await h.api('GET', '/v1/jobs/job_missing', {})).json.error.requestId);
    for (const id of ids) expect(id).toMatch(/^req_[A-Za-z0-9_-]{16}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('is still healthy after all of them (no crash, no 5xx)', async () => {
    const metrics = await h.api('GET', '/metrics', { token: null });
    expect(metrics.text).not.toMatch(/status="5\d\d"/);
    expect((await h.api('GET', '/healthz', { token: null })).status).toBe(200);
  });
});
