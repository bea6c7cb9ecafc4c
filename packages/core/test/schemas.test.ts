import { describe, expect, it } from 'vitest';
import { parseCallback } from '../src/callback.js';
import { InvalidRequestError } from '../src/errors.js';
import {
  DashscopeTaskSchema,
  DashscopeUploadPolicySchema,
  estimateDashscopeProgress,
  fromDashscopeTask,
  parseDashscopeTime,
} from '../src/providers/dashscope.js';
import { EvolinkErrorBodySchema, EvolinkTaskSchema, fromEvolinkTask } from '../src/providers/evolink.js';
import { isTerminalStatus, parseLipSyncRequest } from '../src/task.js';
import { dashscopeTask, evolinkTask } from './fakes.js';

const NOW = Date.UTC(2026, 0, 1);

function invalid(input: unknown): InvalidRequestError {
  try {
    parseLipSyncRequest(input);
  } catch (e) {
    if (e instanceof InvalidRequestError) return e;
    throw e;
  }
  throw new Error('expected an InvalidRequestError');
}

describe('parseLipSyncRequest', () => {
  const ok = { video: 'https://example.com/in.mp4', audio: 'https://example.com/a.wav' };

  it('accepts http(s) and oss:// inputs with every optional field', () => {
    const req = {
      ...ok,
      refImage: 'oss://dir/face.png',
      videoExtension: true,
      faceThreshold: 120,
      callbackUrl: 'https://h/cb',
    };
    expect(parseLipSyncRequest(req)).toEqual(req);
  });

  it('names the field and the allowed range when faceThreshold is out of range or fractional', () => {
    for (const faceThreshold of [119, 201, 150.5, '150']) {
      const err = invalid({ ...ok, faceThreshold });
      expect(err.field).toBe('faceThreshold');
      expect(err.allowed).toBe('an integer from 120 to 200');
      expect(err.message).toContain('faceThreshold');
    }
  });

  it('says which input is missing', () => {
    const err = invalid({ video: ok.video });
    expect(err.field).toBe('audio');
    expect(err.message).toContain('audio is required');
  });

  it('says what is wrong with a value of the wrong type, and with a non-object', () => {
    const wrongType = invalid({ ...ok, videoExtension: 'yes' });
    expect(wrongType.field).toBe('videoExtension');
    expect(wrongType.message).not.toContain('required');
    expect(wrongType.message).toContain('boolean');
    expect(invalid({ ...ok, audio: 5 }).message).toContain('audio must be a URL string');
    expect(invalid(null).message).toContain('must be an object');
  });

  it('refuses local paths, other schemes and unknown keys', () => {
    expect(invalid({ ...ok, video: '/tmp/in.mp4' }).field).toBe('video');
    expect(invalid({ ...ok, audio: 'ftp://x/a.wav' }).field).toBe('audio');
    expect(invalid({ ...ok, face_threshold: 150 }).field).toBe('face_threshold');
    expect(invalid({ ...ok, callbackUrl: 'http://plain/cb' }).field).toBe('callbackUrl');
    expect(invalid({ ...ok, callbackUrl: `https://h/${'x'.repeat(2050)}` }).field).toBe('callbackUrl');
  });
});

describe('EvoLink task mapping', () => {
  const map = (body: unknown) => fromEvolinkTask(EvolinkTaskSchema.parse(body), { now: NOW });

  it('maps pending, processing, completed and failed', () => {
    expect(map(evolinkTask())).toMatchObject({
      status: 'queued',
      progress: 0,
      etaMs: 90_000,
      usage: { credits: 480 },
    });
    expect(map(evolinkTask({ status: 'processing', progress: 45 }))).toMatchObject({
      status: 'running',
      progress: 45,
      etaMs: 49_500,
    });
    const done = map(
      evolinkTask({
        status: 'completed',
        progress: 100,
        results: ['https://cdn/x.mp4'],
        task_info: { can_cancel: false },
      }),
    );
    expect(done).toMatchObject({
      status: 'succeeded',
      progress: 100,
      resultUrl: 'https://cdn/x.mp4',
      resultExpiresAt: new Date(NOW + 24 * 3600_000).toISOString(),
    });
    expect(done.etaMs).toBeUndefined();
    expect(
      map(
        evolinkTask({
          status: 'failed',
          error: { code: 'generation_timeout', message: 'slow', type: 'task_error' },
        }),
      ),
    ).toMatchObject({
      status: 'failed',
      error: { code: 'generation_timeout', message: 'slow', retryable: true },
    });
  });

  it('maps a failed task with request_cancelled to canceled', () => {
    const t = map(
      evolinkTask({
        status: 'failed',
        error: { code: 'request_cancelled', message: 'cancelled', type: 'task_error' },
      }),
    );
    expect(t.status).toBe('canceled');
    expect(isTerminalStatus(t.status)).toBe(true);
  });

  it('keeps unknown keys, accepts unknown statuses as running and numeric error codes', () => {
    const body = evolinkTask({
      status: 'queued_upstream',
      brand_new: { x: 1 },
      task_info: { can_cancel: false, extra: true },
    });
    const t = map(body);
    expect(t.status).toBe('running');
    expect((t.raw as Record<string, unknown>).brand_new).toEqual({ x: 1 });
    expect(
      EvolinkErrorBodySchema.parse({
        error: { code: 402, message: 'm', type: 'insufficient_quota_error', fallback_suggestion: 'x' },
      }).error,
    ).toMatchObject({ code: 402, fallback_suggestion: 'x' });
    const failed = map(evolinkTask({ status: 'failed', error: { code: 500, message: 'm' } }));
    expect(failed.error?.code).toBe('500');
  });

  it('reads results given as {url} objects (EvoLink-shaped clones)', () => {
    expect(map(evolinkTask({ status: 'completed', results: [{ url: 'https://cdn/y.mp4' }] })).resultUrl).toBe(
      'https://cdn/y.mp4',
    );
  });
});

describe('DashScope task mapping', () => {
  const map = (body: unknown, startedAt?: number) =>
    fromDashscopeTask(DashscopeTaskSchema.parse(body), { now: NOW, startedAt, typicalJobMs: 100_000 });

  it('maps every documented status', () => {
    expect(map(dashscopeTask('PENDING')).status).toBe('queued');
    for (const s of ['PRE-PROCESSING', 'RUNNING', 'POST-PROCESSING', 'SUSPENDED', 'SOMETHING-NEW']) {
      expect(map(dashscopeTask(s), NOW).status).toBe('running');
    }
    expect(map(dashscopeTask('SUCCEEDED', { video_url: 'http://oss/x.mp4' })).status).toBe('succeeded');
    expect(map(dashscopeTask('FAILED', { code: 'InvalidFile.FPS', message: 'fps' }))).toMatchObject({
      status: 'failed',
      error: { code: 'InvalidFile.FPS', retryable: false },
    });
    expect(map(dashscopeTask('CANCELED')).status).toBe('canceled');
    expect(map(dashscopeTask('UNKNOWN'))).toMatchObject({ status: 'expired', error: { code: 'UNKNOWN' } });
  });

  it('estimates progress from status and running time, never reaching 100 before success', () => {
    expect(map(dashscopeTask('PENDING')).progress).toBe(0);
    expect(map(dashscopeTask('RUNNING'), NOW).progress).toBe(10);
    expect(map(dashscopeTask('RUNNING'), NOW - 50_000).progress).toBe(48);
    expect(map(dashscopeTask('RUNNING'), NOW - 1_000_000).progress).toBeLessThanOrEqual(95);
    expect(map(dashscopeTask('POST-PROCESSING'), NOW).progress).toBe(90);
    expect(estimateDashscopeProgress('SUCCEEDED', 0, 1)).toBe(100);
    expect(map(dashscopeTask('RUNNING'), NOW - 50_000).etaMs).toBe(52_000);
  });

  it('takes the result expiry from Expires= and the usage from video_duration', () => {
    const t = map(
      dashscopeTask(
        'SUCCEEDED',
        {
          video_url:
            'http://dashscope-result-sh.oss-cn-shanghai.aliyuncs.com/x.mp4?Expires=1767312000&Signature=abc',
          end_time: '2026-01-01 08:00:00.000',
        },
        { usage: { video_duration: 7.2, video_ratio: 'standard', size: '1080*1920', fps: 25, new_field: 1 } },
      ),
    );
    expect(t.resultExpiresAt).toBe(new Date(1767312000 * 1000).toISOString());
    expect(t.usage).toEqual({ videoSeconds: 7.2 });
    expect((t.raw as { usage: Record<string, unknown> }).usage.new_field).toBe(1);
  });

  it('falls back to end_time (Beijing time) + 24 h when the link has no Expires', () => {
    const t = map(
      dashscopeTask('SUCCEEDED', { video_url: 'http://oss/x.mp4', end_time: '2025-09-11 20:16:40.577' }),
    );
    expect(parseDashscopeTime('2025-09-11 20:16:40.577')).toBe(Date.parse('2025-09-11T12:16:40.577Z'));
    expect(t.resultExpiresAt).toBe('2025-09-12T12:16:40.577Z');
  });

  it('accepts policy sizes as numbers or strings', () => {
    const data = {
      policy: 'p',
      signature: 's',
      upload_dir: 'dashscope-instant/x',
      upload_host: 'https://oss',
      oss_access_key_id: 'k',
    };
    expect(DashscopeUploadPolicySchema.safeParse({ data: { ...data, max_file_size_mb: 100 } }).success).toBe(
      true,
    );
    expect(
      DashscopeUploadPolicySchema.safeParse({ data: { ...data, max_file_size_mb: '100' } }).success,
    ).toBe(true);
  });
});

describe('parseCallback', () => {
  it('reads an EvoLink callback body (text or JSON) into a task', () => {
    const body = evolinkTask({ status: 'completed', progress: 100, results: ['https://cdn/z.mp4'] });
    expect(parseCallback(JSON.stringify(body), 'evolink', NOW)).toMatchObject({
      status: 'succeeded',
      resultUrl: 'https://cdn/z.mp4',
    });
    expect(parseCallback(body, 'evolink', NOW).id).toBe(body.id);
  });

  it('refuses bodies that are not tasks, and providers without callbacks', () => {
    expect(() => parseCallback('not json', 'evolink')).toThrow(
      expect.objectContaining({ code: 'response_validation' }),
    );
    expect(() => parseCallback({ hello: 1 }, 'evolink')).toThrow(
      expect.objectContaining({ code: 'response_validation' }),
    );
    expect(() => parseCallback({}, 'dashscope')).toThrow(
      expect.objectContaining({ code: 'invalid_request' }),
    );
  });
});
