import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../src/index.js';
import {
  AUTH,
  call,
  DS_HEADERS,
  dsBody,
  dsCreate,
  dsGet,
  evolinkBody,
  evolinkCreate,
  evolinkGet,
  fixtureBytes,
  JSON_AUTH,
  type Json,
  VIDEO,
  waitFor,
} from './sim-requests.js';

const HOUR_MS = 3_600_000;
let sim: Simulator;

beforeAll(async () => {
  sim = await createSimulator({
    jobMs: 150,
    apiKeys: ['sim-key', 'other'],
    // Audio/video through the EvoLink files API, as EvoLink's MCP assumes (the default is images).
    evolinkFilesMimeTypes: 'media',
    limits: {
      dashscopeSubmitsPerSecond: Number.POSITIVE_INFINITY,
      dashscopeQueriesPerSecond: Number.POSITIVE_INFINITY,
      dashscopeConcurrentTasks: Number.POSITIVE_INFINITY,
    },
  });
});
afterAll(() => sim.close());

async function getPolicy(s: Simulator, headers: Record<string, string> = AUTH): Promise<Json> {
  const res = await call(`${s.dashscopeUrl}/uploads?action=getPolicy&model=videoretalk`, { headers });
  expect(res.status).toBe(200);
  return res.body.data;
}

function ossForm(policy: Json, name: string, bytes: Buffer, fileLast = true): FormData {
  const form = new FormData();
  const key = `${policy.upload_dir}/${name}`;
  const fields: Array<[string, string]> = [
    ['OSSAccessKeyId', policy.oss_access_key_id],
    ['Signature', policy.signature],
    ['policy', policy.policy],
    ['key', key],
    ['x-oss-object-acl', policy.x_oss_object_acl],
    ['x-oss-forbid-overwrite', policy.x_oss_forbid_overwrite],
    ['success_action_status', '200'],
  ];
  if (!fileLast) form.append('file', new Blob([new Uint8Array(bytes)]), name);
  for (const [k, v] of fields) form.append(k, v);
  if (fileLast) form.append('file', new Blob([new Uint8Array(bytes)]), name);
  return form;
}

async function ossUpload(policy: Json, name: string, bytes: Buffer, fileLast = true): Promise<Response> {
  return fetch(policy.upload_host, { method: 'POST', body: ossForm(policy, name, bytes, fileLast) });
}

describe('DashScope temporary upload (oss://)', () => {
  it('hands out a 300 s policy for the model with the documented fields', async () => {
    const policy = await getPolicy(sim);
    expect(policy).toMatchObject({
      upload_host: sim.url,
      expire_in_seconds: 300,
      max_file_size_mb: 100,
      x_oss_object_acl: 'private',
      x_oss_forbid_overwrite: 'true',
    });
    expect(policy.upload_dir).toMatch(/^dashscope-instant\/[0-9a-f]+\/\d{4}-\d{2}-\d{2}\/[0-9a-f-]+$/);
    for (const field of ['policy', 'signature', 'oss_access_key_id'])
      expect(typeof policy[field]).toBe('string');
    const noModel = await call(`${sim.dashscopeUrl}/uploads?action=getPolicy`);
    expect(noModel.status).toBe(400);
    expect(noModel.body).toMatchObject({ code: 'InvalidParameter', message: 'Field required: model' });
    const noKey = await call(`${sim.url}/qwen/api/v1/uploads?action=getPolicy&model=videoretalk`, {
      headers: {},
    });
    expect(noKey.status).toBe(401);
  });

  it('takes the multipart upload with file as the last field (200, empty body) and runs a task from oss://', async () => {
    const policy = await getPolicy(sim);
    const up = await ossUpload(policy, 'talk.mp4', fixtureBytes(VIDEO));
    expect(up.status).toBe(200);
    expect(await up.text()).toBe('');
    const ossUrl = `oss://${policy.upload_dir}/talk.mp4`;
    const withoutHeader = await dsCreate(sim, dsBody(sim, { video_url: ossUrl }));
    expect(withoutHeader.status).toBe(400);
    expect(withoutHeader.body.code).toBe('InvalidParameter');
    const created = await dsCreate(sim, dsBody(sim, { video_url: ossUrl }), {
      ...DS_HEADERS,
      'x-dashscope-ossresourceresolve': 'enable',
    });
    expect(created.status).toBe(200);
    const done = await waitFor(
      () => dsGet(sim, created.body.output.task_id).then((r) => r.body),
      (b) => b.output.task_status === 'SUCCEEDED',
    );
    expect(done.usage.size).toBe('640*640');
    const result = await fetch(done.output.video_url);
    expect(Buffer.from(await result.arrayBuffer()).equals(fixtureBytes(VIDEO))).toBe(true);
    expect(sim.stats().requests['oss.upload']).toBeGreaterThanOrEqual(1);
  });

  it('refuses a form whose file field is not last, and does not overwrite a key', async () => {
    const policy = await getPolicy(sim);
    const early = await ossUpload(policy, 'a.wav', fixtureBytes('speech-4s.wav'), false);
    expect(early.status).toBe(400);
    expect(await early.text()).toContain('<Code>InvalidArgument</Code>');
    expect((await ossUpload(policy, 'b.wav', fixtureBytes('speech-4s.wav'))).status).toBe(200);
    const again = await ossUpload(policy, 'b.wav', fixtureBytes('speech-4s.wav'));
    expect(again.status).toBe(409);
    await again.arrayBuffer();
  });

  it('refuses a stale policy with 403 AccessDenied "Policy expired."', async () => {
    const own = await createSimulator({ jobMs: 100 });
    try {
      const policy = await getPolicy(own);
      own.advanceTime(301_000);
      const res = await ossUpload(policy, 'late.wav', fixtureBytes('speech-4s.wav'));
      expect(res.status).toBe(403);
      const xml = await res.text();
      expect(xml).toContain('<Code>AccessDenied</Code>');
      expect(xml).toContain('Invalid according to Policy: Policy expired.');
    } finally {
      await own.close();
    }
  });

  it('binds an oss:// file to its account and lets it expire after 48 h', async () => {
    const own = await createSimulator({ jobMs: 100, apiKeys: ['sim-key', 'other'] });
    try {
      const policy = await getPolicy(own);
      expect((await ossUpload(policy, 'v.mp4', fixtureBytes(VIDEO))).status).toBe(200);
      const body = dsBody(own, { video_url: `oss://${policy.upload_dir}/v.mp4` });
      const resolve = { 'x-dashscope-ossresourceresolve': 'enable' };
      const foreign = await dsCreate(own, body, { ...DS_HEADERS, ...resolve, authorization: 'Bearer other' });
      expect(foreign.status).toBe(400);
      expect(foreign.body.message).toContain('another account');
      own.advanceTime(48 * HOUR_MS);
      const expired = await dsCreate(own, body, { ...DS_HEADERS, ...resolve });
      expect(expired.status).toBe(400);
      expect(expired.body.message).toContain('expired');
    } finally {
      await own.close();
    }
  });
});

describe('EvoLink files API', () => {
  it('uploads by multipart stream into the {success,code,msg,data} envelope with a 72 h expiry', async () => {
    const form = new FormData();
    form.append('upload_path', 'retalk');
    form.append(
      'file',
      new Blob([new Uint8Array(fixtureBytes('face.png'))], { type: 'image/png' }),
      'face.png',
    );
    const res = await fetch(`${sim.url}/api/v1/files/upload/stream`, {
      method: 'POST',
      headers: AUTH,
      body: form,
    });
    const body = (await res.json()) as Json;
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ success: true, code: 200, msg: 'File uploaded successfully' });
    const data = body.data;
    expect(data).toMatchObject({
      original_name: 'face.png',
      file_size: fixtureBytes('face.png').length,
      mime_type: 'image/png',
      upload_path: 'retalk',
    });
    expect(data.file_id).toMatch(/^file_[a-z0-9]+$/);
    expect(data.upload_time).toMatch(/\+08:00$/);
    expect(Date.parse(data.expires_at) - Date.parse(data.upload_time)).toBe(72 * HOUR_MS);
    expect(data.file_url).toBe(`${sim.url}/files/retalk/${data.file_name}`);
    expect(data.download_url).toBe(`${sim.url}/api/v1/files/download/${data.file_id}`);
    const fetched = await fetch(data.file_url);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(fixtureBytes('face.png'))).toBe(true);
  });

  it('uploads base64 (raw or data: URL) and by URL, and the file_url works as a task input', async () => {
    const b64 = await call(`${sim.url}/api/v1/files/upload/base64`, {
      headers: JSON_AUTH,
      body: {
        base64_data: `data:audio/wav;base64,${fixtureBytes('speech-4s.wav').toString('base64')}`,
        file_name: 'speech.wav',
      },
    });
    expect(b64.body).toMatchObject({
      success: true,
      code: 200,
      data: { file_name: 'speech.wav', mime_type: 'audio/wav' },
    });
    const byUrl = await call(`${sim.url}/api/v1/files/upload/url`, {
      headers: JSON_AUTH,
      body: { file_url: sim.fixtureUrl(VIDEO), upload_path: 'videos' },
    });
    expect(byUrl.body).toMatchObject({
      success: true,
      data: { mime_type: 'video/mp4', upload_path: 'videos' },
    });
    const created = await evolinkCreate(
      sim,
      evolinkBody(sim, { video_url: byUrl.body.data.file_url, audio_url: b64.body.data.file_url }),
    );
    const done = await waitFor(
      () => evolinkGet(sim, created.body.id).then((r) => r.body),
      (b) => b.status !== 'pending' && b.status !== 'processing',
    );
    expect(done.status).toBe('completed');
    expect(sim.stats().requests['evolink.files.upload']).toBeGreaterThanOrEqual(3);
  });

  it('expires files after 72 h', async () => {
    const own = await createSimulator({ jobMs: 100 });
    try {
      const up = await call(`${own.url}/api/v1/files/upload/base64`, {
        headers: JSON_AUTH,
        body: { base64_data: fixtureBytes('face.png').toString('base64') },
      });
      expect(up.body.data.mime_type).toBe('image/png');
      own.advanceTime(72 * HOUR_MS);
      const gone = await fetch(up.body.data.file_url);
      expect(gone.status).toBe(404);
      expect(((await gone.json()) as Json).success).toBe(false);
    } finally {
      await own.close();
    }
  });

  it('answers success:false once the quota is used up, and reports the quota', async () => {
    const own = await createSimulator({ jobMs: 100, evolinkFilesQuota: 2 });
    try {
      const upload = () =>
        call(`${own.url}/api/v1/files/upload/base64`, {
          headers: JSON_AUTH,
          body: { base64_data: fixtureBytes('face.png').toString('base64') },
        });
      expect((await upload()).body.success).toBe(true);
      expect((await upload()).body.success).toBe(true);
      const third = await upload();
      expect(third.body).toMatchObject({ success: false, code: 403, data: null });
      expect(third.body.msg).toContain('quota');
      const quota = await call(`${own.url}/api/v1/files/quota`);
      expect(quota.body.data).toEqual({
        user_group: 'default',
        used_files: 2,
        max_files: 2,
        remain_files: 0,
      });
    } finally {
      await own.close();
    }
  });

  it('accepts only images by default, as the EvoLink files docs say (audit row 3)', async () => {
    const own = await createSimulator({ jobMs: 100 });
    try {
      const video = await call(`${own.url}/api/v1/files/upload/base64`, {
        headers: JSON_AUTH,
        body: { base64_data: fixtureBytes(VIDEO).toString('base64') },
      });
      expect(video.status).toBe(400);
      expect(video.body).toMatchObject({ success: false, code: 400 });
      expect(video.body.msg).toContain('image/jpeg, image/png, image/gif, image/webp');
      const image = await call(`${own.url}/api/v1/files/upload/base64`, {
        headers: JSON_AUTH,
        body: { base64_data: fixtureBytes('face.png').toString('base64') },
      });
      expect(image.body.success).toBe(true);
      const noAuth = await call(`${own.url}/api/v1/files/quota`, { headers: {} });
      expect(noAuth.status).toBe(401);
      expect(noAuth.body.success).toBe(false);
    } finally {
      await own.close();
    }
  });
});
