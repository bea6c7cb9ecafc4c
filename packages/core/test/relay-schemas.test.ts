import { describe, expect, it } from 'vitest';
import { CreateJobRequestSchema, JobSchema, ListJobsQuerySchema } from '../src/relay/index.js';

// The relay builds its 400 answers (field, allowed values, message) from the first issue's code,
// path and bounds, so these are part of the contract, not an implementation detail of zod/mini.
const firstIssue = (result: { success: boolean; error?: { issues: readonly unknown[] } }) =>
  result.success ? undefined : result.error?.issues[0];

const upload = { uploadId: 'upl_1' };

describe('CreateJobRequestSchema', () => {
  it('accepts a job of two uploads with the optional fields set', () => {
    const body = { video: upload, audio: { url: 'https://example.com/a.wav' }, faceThreshold: 150 };
    expect(CreateJobRequestSchema.parse({ ...body, videoExtension: true })).toEqual({
      ...body,
      videoExtension: true,
    });
  });

  it('reports a missing input as invalid_type at its path', () => {
    expect(firstIssue(CreateJobRequestSchema.safeParse({ audio: upload }))).toMatchObject({
      code: 'invalid_type',
      expected: 'object',
      path: ['video'],
    });
  });

  it('names unknown fields with unrecognized_keys', () => {
    const result = CreateJobRequestSchema.safeParse({ video: upload, audio: upload, face_threshold: 150 });
    expect(firstIssue(result)).toMatchObject({
      code: 'unrecognized_keys',
      keys: ['face_threshold'],
      path: [],
    });
  });

  it('asks for exactly one of url and uploadId, at the input', () => {
    const both = { url: 'https://example.com/v.mp4', uploadId: 'upl_1' };
    for (const video of [{}, both]) {
      expect(firstIssue(CreateJobRequestSchema.safeParse({ video, audio: upload }))).toMatchObject({
        code: 'custom',
        path: ['video'],
        message: expect.stringMatching(/exactly one of "url".*or "uploadId"/),
      });
    }
  });

  it('takes a clip and a conform mode, and asks for the clip end after its start', () => {
    const body = {
      video: { uploadId: 'upl_1', startSec: 12, endSec: 42 },
      audio: { url: 'https://example.com/a.m4a', endSec: 30 },
      conform: 'auto',
    };
    expect(CreateJobRequestSchema.parse(body)).toEqual(body);
    expect(
      firstIssue(
        CreateJobRequestSchema.safeParse({ ...body, video: { uploadId: 'upl_1', startSec: 5, endSec: 5 } }),
      ),
    ).toMatchObject({
      code: 'custom',
      path: ['video', 'endSec'],
      message: expect.stringMatching(/after startSec/),
    });
    expect(
      firstIssue(CreateJobRequestSchema.safeParse({ ...body, audio: { uploadId: 'upl_2', startSec: -1 } })),
    ).toMatchObject({ code: 'too_small', path: ['audio', 'startSec'] });
    expect(firstIssue(CreateJobRequestSchema.safeParse({ ...body, conform: 'always' }))).toMatchObject({
      code: 'invalid_value',
      path: ['conform'],
      values: ['auto', 'off'],
    });
  });

  it('keeps faceThreshold a whole number from 120 to 200', () => {
    const at = (faceThreshold: unknown) =>
      firstIssue(CreateJobRequestSchema.safeParse({ video: upload, audio: upload, faceThreshold }));
    expect(at(100)).toMatchObject({
      code: 'too_small',
      minimum: 120,
      origin: 'number',
      path: ['faceThreshold'],
    });
    expect(at(201)).toMatchObject({ code: 'too_big', maximum: 200, origin: 'number' });
    expect(at(150.5)).toMatchObject({ code: 'invalid_type', expected: 'int' });
    expect(at('150')).toMatchObject({ code: 'invalid_type', expected: 'number' });
    expect(at(120)).toBeUndefined();
  });

  it('bounds URL lengths in characters', () => {
    const url = `https://example.com/${'a'.repeat(3000)}`;
    expect(firstIssue(CreateJobRequestSchema.safeParse({ video: { url }, audio: upload }))).toMatchObject({
      code: 'too_big',
      maximum: 2048,
      origin: 'string',
      path: ['video', 'url'],
    });
  });
});

describe('ListJobsQuerySchema', () => {
  it('coerces the limit and splits a comma-separated status list', () => {
    expect(ListJobsQuerySchema.parse({ limit: '10', status: 'running,failed' })).toEqual({
      limit: 10,
      status: ['running', 'failed'],
    });
  });

  it('names an unknown status and lists the allowed ones', () => {
    expect(firstIssue(ListJobsQuerySchema.safeParse({ status: 'running,bogus' }))).toMatchObject({
      code: 'custom',
      path: ['status'],
      message: expect.stringContaining(
        'unknown status "bogus"; use one or more of received, preparing, submitted',
      ),
    });
  });

  it('refuses a limit outside 1–100', () => {
    expect(firstIssue(ListJobsQuerySchema.safeParse({ limit: '0' }))).toMatchObject({
      code: 'too_small',
      minimum: 1,
      path: ['limit'],
    });
  });
});

describe('JobSchema', () => {
  it('keeps a job and drops fields a newer relay adds', () => {
    const job = {
      id: 'job_1',
      status: 'running',
      progress: 40,
      provider: 'dashscope',
      input: { video: upload, audio: upload, videoExtension: false },
      estimatedSeconds: 3,
      cancelable: false,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:01.000Z',
    };
    expect(JobSchema.parse({ ...job, addedLater: true })).toEqual(job);
  });
});
