import { describe, expect, it } from 'vitest';
import {
  AbortError,
  ERROR_CODES,
  errorFromJSON,
  InvalidRequestError,
  isRetalkError,
  RateLimitedError,
  RetalkError,
  TaskFailedError,
  TimeoutError,
} from '../src/errors.js';
import { PROVIDER_ERRORS, TASK_ERRORS, toProviderError } from '../src/provider-errors.js';
import { fromDashscopeTask } from '../src/providers/dashscope.js';
import { fromEvolinkTask } from '../src/providers/evolink.js';

// Every error code reference/providers.md documents, by provider (A.2, A.5, B.6, B.9, D).
const DOCUMENTED = {
  evolink: [
    'invalid_task_id',
    'unauthorized',
    'quota_exceeded',
    'insufficient_quota',
    'permission_denied',
    'model_access_denied',
    'task_not_found',
    'rate_limit_exceeded',
    'internal_error',
    'missing_required_params',
    'content_policy_violation',
    'invalid_parameters',
    'image_processing_error',
    'image_dimension_mismatch',
    'request_cancelled',
    'generation_failed_no_content',
    'service_error',
    'generation_timeout',
    'resource_exhausted',
    'service_unavailable',
    'resource_not_found',
    'unknown_error',
  ],
  dashscope: [
    'InvalidParameter',
    'InvalidApiKey',
    'Throttling',
    'Throttling.RateQuota',
    'Throttling.AllocationQuota',
    'InvalidURL.ConnectionRefused',
    'InvalidURL.Timeout',
    'InvalidFile.Size',
    'InvalidFile.Format',
    'InvalidFile.Resolution',
    'InvalidFile.FPS',
    'InvalidFile.Duration',
    'InvalidFile.ImageSize',
    'InvalidFile.Openerror',
    'InvalidFile.Content',
    'InvalidFile.FaceNotMatch',
    'DataInspectionFailed',
    'BadRequest.EmptyInput',
    'BadRequest.EmptyParameters',
    'BadRequest.EmptyModel',
    'InvalidURL',
    'Arrearage',
    'UnsupportedOperation',
    'AccessDenied',
    'AccessDenied.Unpurchased',
    'Model.AccessDenied',
    'ModelNotFound',
    'InternalError',
    'InternalError.Algo',
    'InternalError.Timeout',
    'ModelUnavailable',
    'invalid_parameter_error',
    'InvalidParameter.DataInspection',
  ],
} as const;

const STATUS_FOR: Record<string, number> = {
  auth: 401,
  quota: 402,
  permission: 403,
  not_found: 404,
  rate_limited: 429,
  provider_unavailable: 500,
  invalid_request: 400,
  not_supported: 400,
};

describe('RetalkError', () => {
  it('carries a stable code, a literal name and data fields', () => {
    const err = new RateLimitedError('slow down', { status: 429, requestId: 'r1', retryAfterMs: 1500 });
    expect(err).toBeInstanceOf(RetalkError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('RateLimitedError');
    expect(err.code).toBe('rate_limited');
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBe(1500);
  });

  it('keeps timeout and abort apart', () => {
    expect(new TimeoutError('t').code).toBe('timeout');
    expect(new AbortError('a').code).toBe('aborted');
  });

  it('survives structured clone and JSON as plain data that isRetalkError recognises', () => {
    const err = new InvalidRequestError('bad threshold', {
      field: 'faceThreshold',
      allowed: '120–200',
      status: 400,
    });
    const cloned = structuredClone(err.toJSON());
    const viaJson = JSON.parse(JSON.stringify(err));
    for (const plain of [cloned, viaJson]) {
      expect(isRetalkError(plain)).toBe(true);
      expect(plain).toMatchObject({
        code: 'invalid_request',
        field: 'faceThreshold',
        allowed: '120–200',
        status: 400,
      });
    }
  });

  it('is rebuilt into the matching subclass by errorFromJSON, for every code', () => {
    for (const code of ERROR_CODES) {
      const rebuilt = errorFromJSON({ code, message: `m-${code}`, retryable: false, name: 'X' });
      expect(rebuilt.code).toBe(code);
      expect(rebuilt.message).toBe(`m-${code}`);
      expect(rebuilt).toBeInstanceOf(RetalkError);
    }
    const failed = errorFromJSON(
      new TaskFailedError('f', {
        taskId: 't1',
        taskStatus: 'failed',
        providerCode: 'InvalidFile.FPS',
        retryable: false,
      }).toJSON(),
    );
    expect(failed).toBeInstanceOf(TaskFailedError);
    expect(failed).toMatchObject({ taskId: 't1', providerCode: 'InvalidFile.FPS' });
  });

  it('does not recognise lookalikes without a known code', () => {
    expect(isRetalkError(new Error('x'))).toBe(false);
    expect(isRetalkError({ code: 'ECONNRESET', message: 'x' })).toBe(false);
    expect(isRetalkError({ code: 'auth' })).toBe(false);
    expect(isRetalkError(null)).toBe(false);
  });
});

describe('PROVIDER_ERRORS', () => {
  it('lists every error code providers.md documents', () => {
    for (const provider of ['evolink', 'dashscope'] as const) {
      for (const code of DOCUMENTED[provider]) {
        expect(PROVIDER_ERRORS[provider], `${provider} ${code}`).toHaveProperty([code]);
      }
    }
  });

  it('maps every HTTP-level entry to an error of its declared code, with the hint and provider code', () => {
    for (const provider of ['evolink', 'dashscope'] as const) {
      for (const [code, entry] of Object.entries(PROVIDER_ERRORS[provider])) {
        const err = toProviderError({
          provider,
          status: STATUS_FOR[entry.error] ?? 400,
          code,
          message: 'from the provider',
          action: 'submit',
          retryAfterMs: 2000,
        });
        expect(err.code, `${provider} ${code}`).toBe(entry.error);
        expect(err.providerCode).toBe(code);
        expect(err.retryable).toBe(entry.retryable);
        expect(err.message).toContain(entry.hint);
        if (entry.error === 'rate_limited') expect((err as RateLimitedError).retryAfterMs).toBe(2000);
      }
    }
  });

  it('marks every task-level failure code retryable or not as its entry says', () => {
    for (const [code, entry] of Object.entries(PROVIDER_ERRORS.evolink)) {
      const task = fromEvolinkTask(
        {
          id: 'task-unified-1-abcdefgh',
          status: 'failed',
          error: { code, message: 'm', type: 'task_error' },
        },
        { now: 0 },
      );
      expect(task.status).toBe(code === 'request_cancelled' ? 'canceled' : 'failed');
      // A task-level meaning (TASK_ERRORS, audit row 8) wins over the HTTP-level entry.
      const retryable = (TASK_ERRORS.evolink?.[code] ?? entry).retryable;
      expect(task.error).toEqual({ code, message: 'm', retryable });
    }
    for (const [code, entry] of Object.entries(PROVIDER_ERRORS.dashscope)) {
      const task = fromDashscopeTask(
        { output: { task_id: 't', task_status: 'FAILED', code, message: 'm' } },
        { now: 0 },
      );
      expect(task.error).toEqual({ code, message: 'm', retryable: entry.retryable });
    }
  });

  it('falls back on the HTTP status for unknown and numeric codes', () => {
    expect(toProviderError({ provider: 'evolink', status: 402, code: 402, action: 'submit' }).code).toBe(
      'quota',
    );
    expect(
      toProviderError({ provider: 'evolink', status: 503, code: 'brand_new', action: 'x' }),
    ).toMatchObject({
      code: 'provider_unavailable',
      retryable: true,
    });
    expect(toProviderError({ provider: 'dashscope', status: 401, action: 'x' }).code).toBe('auth');
  });
});
