import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { HOUR_MS, toBeijingDate } from './clock.js';
import type { SimContext } from './context.js';
import { BodyTooLargeError, bearerToken, readBody, sendJson, sendText } from './http-io.js';
import { uuid } from './ids.js';
import type { LocalFile } from './inputs.js';
import { boundaryOf, MultipartError, parseMultipart } from './multipart.js';

const POLICY_TTL_MS = 300_000;
const OSS_OBJECT_TTL_MS = 48 * HOUR_MS;
const MAX_FILE_SIZE_MB = 100;
const ACCESS_KEY_ID = 'LTAI5tSimulatorOssKey';

interface Policy {
  account: string;
  model: string;
  uploadDir: string;
  expiresAt: number;
}

interface OssObject extends LocalFile {
  account: string;
  model: string;
  uploadedAt: number;
  contentType?: string;
}

/** The fake OSS bucket behind DashScope's temporary uploads, plus its URL signer. */
export function createOssStore(now: () => number) {
  const secret = randomBytes(32);
  const policies = new Map<string, Policy>();
  const objects = new Map<string, OssObject>();
  const sign = (text: string) => createHmac('sha1', secret).update(text).digest('base64');

  const live = (key: string): OssObject | undefined => {
    const obj = objects.get(key);
    if (obj && now() >= obj.uploadedAt + OSS_OBJECT_TTL_MS) {
      objects.delete(key);
      return undefined;
    }
    return obj;
  };

  return {
    accessKeyId: ACCESS_KEY_ID,
    sign,
    policies,
    objects,
    live,
    signUrl(base: string, expiresSec: number): string {
      const u = new URL(base);
      const signature = sign(`GET\n${u.pathname}\n${expiresSec}`);
      return `${base}?Expires=${expiresSec}&OSSAccessKeyId=${ACCESS_KEY_ID}&Signature=${encodeURIComponent(signature)}`;
    },
    verifyUrl(url: URL): boolean {
      const expires = url.searchParams.get('Expires') ?? '';
      const given = Buffer.from(url.searchParams.get('Signature') ?? '');
      const wanted = Buffer.from(sign(`GET\n${url.pathname}\n${expires}`));
      return (
        url.searchParams.get('OSSAccessKeyId') === ACCESS_KEY_ID &&
        given.length === wanted.length &&
        timingSafeEqual(given, wanted)
      );
    },
    /** The stored file behind an `oss://` URL, or a message saying why it cannot be used. */
    check(url: string, account: string, model: string): OssObject | string {
      const key = url.slice('oss://'.length);
      const obj = live(key);
      if (!obj)
        return `The oss resource ${url} does not exist or has expired (temporary files live 48 hours).`;
      if (obj.account !== account || obj.model !== model) {
        return `The oss resource ${url} was uploaded for another account or model; temporary files are bound to both.`;
      }
      return obj;
    },
    resolveLocal(url: string): LocalFile | undefined {
      if (!url.startsWith('oss://')) return undefined;
      return live(url.slice('oss://'.length));
    },
  };
}

export type OssStore = ReturnType<typeof createOssStore>;

export function sendOssError(res: ServerResponse, status: number, code: string, message: string): void {
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error>\n  <Code>${code}</Code>\n  <Message>${message}</Message>\n  <RequestId>${uuid().replace(/-/g, '').toUpperCase().slice(0, 24)}</RequestId>\n  <HostId>dashscope-file-sim.oss-cn-beijing.aliyuncs.com</HostId>\n</Error>\n`;
  sendText(res, status, xml, 'application/xml');
}

/** GET {prefix}/uploads?action=getPolicy&model=…: a 300 s upload credential (B.9). */
export function handleGetPolicy(ctx: SimContext, req: IncomingMessage, res: ServerResponse, url: URL) {
  ctx.count('dashscope.getPolicy');
  const key = bearerToken(req);
  if (key === undefined || !ctx.options.apiKeys.includes(key)) {
    return sendJson(res, 401, {
      request_id: uuid(),
      code: 'InvalidApiKey',
      message: key === undefined ? 'No API-key provided.' : 'Invalid API-key provided.',
    });
  }
  const action = url.searchParams.get('action');
  const model = url.searchParams.get('model');
  if (action !== 'getPolicy') {
    return sendJson(res, 400, {
      request_id: uuid(),
      code: 'InvalidParameter',
      message: `The request parameter is invalid. action must be getPolicy, got ${JSON.stringify(action)}.`,
    });
  }
  if (!model)
    return sendJson(res, 400, {
      request_id: uuid(),
      code: 'InvalidParameter',
      message: 'Field required: model',
    });
  // getPolicy is limited per account and model (docs/providers.md B.9); files are bound to both.
  const account = ctx.options.dashscopeAccountOf(key);
  if (!ctx.takeRate(`dashscope.getPolicy|${account}|${model}`, ctx.options.dashscopeGetPolicyPerSecond)) {
    ctx.stats.throttled++;
    return sendJson(res, 429, {
      request_id: uuid(),
      code: 'Throttling.RateQuota',
      message: 'Requests rate limit exceeded, please try again later.',
    });
  }
  const now = ctx.clock.now();
  const uploadDir = `dashscope-instant/${createHmac('md5', 'sim').update(account).digest('hex')}/${toBeijingDate(now)}/${uuid()}`;
  const expiresAt = now + POLICY_TTL_MS;
  const policy = Buffer.from(
    JSON.stringify({
      expiration: new Date(expiresAt).toISOString(),
      conditions: [
        ['content-length-range', 0, MAX_FILE_SIZE_MB * 1024 * 1024],
        ['starts-with', '$key', uploadDir],
        { bucket: 'dashscope-file-sim' },
      ],
    }),
  ).toString('base64');
  ctx.oss.policies.set(policy, { account, model, uploadDir, expiresAt });
  sendJson(res, 200, {
    request_id: uuid(),
    data: {
      policy,
      signature: ctx.oss.sign(policy),
      upload_dir: uploadDir,
      upload_host: ctx.baseUrl(),
      expire_in_seconds: POLICY_TTL_MS / 1000,
      max_file_size_mb: MAX_FILE_SIZE_MB,
      capacity_limit_mb: 999999999,
      oss_access_key_id: ACCESS_KEY_ID,
      x_oss_object_acl: 'private',
      x_oss_forbid_overwrite: 'true',
    },
  });
}

/** POST {upload_host}: the OSS PostObject form upload; `file` must be the last field. */
export async function handleOssUpload(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  ctx.count('oss.upload');
  const boundary = boundaryOf(req.headers['content-type']);
  if (!boundary) {
    return sendOssError(res, 400, 'InvalidArgument', 'The upload must be a multipart/form-data POST.');
  }
  let parts: ReturnType<typeof parseMultipart>;
  try {
    parts = parseMultipart(await readBody(req, (MAX_FILE_SIZE_MB + 1) * 1024 * 1024), boundary);
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      return sendOssError(res, 400, 'EntityTooLarge', `Your proposed upload exceeds ${MAX_FILE_SIZE_MB}MB.`);
    }
    if (error instanceof MultipartError) return sendOssError(res, 400, 'InvalidArgument', error.message);
    throw error;
  }
  const fileIndex = parts.findIndex((p) => p.name === 'file');
  if (fileIndex < 0) return sendOssError(res, 400, 'InvalidArgument', 'The form has no file field.');
  if (fileIndex !== parts.length - 1) {
    return sendOssError(res, 400, 'InvalidArgument', 'The file field must be the last field of the form.');
  }
  const field = (name: string) =>
    parts.find((p) => p.name.toLowerCase() === name.toLowerCase())?.data.toString('utf8');
  for (const name of ['OSSAccessKeyId', 'policy', 'Signature', 'key']) {
    if (field(name) === undefined)
      return sendOssError(res, 400, 'InvalidArgument', `The form field ${name} is missing.`);
  }
  const policyText = field('policy') ?? '';
  const policy = ctx.oss.policies.get(policyText);
  if (
    !policy ||
    field('Signature') !== ctx.oss.sign(policyText) ||
    field('OSSAccessKeyId') !== ACCESS_KEY_ID
  ) {
    return sendOssError(
      res,
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match.',
    );
  }
  if (ctx.clock.now() >= policy.expiresAt) {
    return sendOssError(res, 403, 'AccessDenied', 'Invalid according to Policy: Policy expired.');
  }
  const key = field('key') ?? '';
  if (!key.startsWith(`${policy.uploadDir}/`) || key.includes('..')) {
    return sendOssError(
      res,
      403,
      'AccessDenied',
      `Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "${policy.uploadDir}"]`,
    );
  }
  if (field('x-oss-forbid-overwrite') === 'true' && ctx.oss.live(key)) {
    return sendOssError(res, 409, 'FileAlreadyExists', 'The object you specified already exists.');
  }
  const file = parts[fileIndex];
  if (!file) return sendOssError(res, 400, 'InvalidArgument', 'The form has no file field.');
  const path = join(await ctx.workDir(), `oss-${uuid()}`);
  await writeFile(path, file.data);
  const contentType = field('x-oss-content-type') ?? file.contentType;
  const obj = {
    path,
    sizeBytes: file.data.length,
    account: policy.account,
    model: policy.model,
    uploadedAt: ctx.clock.now(),
  };
  ctx.oss.objects.set(key, contentType ? { ...obj, contentType } : obj);
  const successStatus = Number(field('success_action_status'));
  res.writeHead([200, 201, 204].includes(successStatus) ? successStatus : 204, { 'content-length': 0 });
  res.end();
}
