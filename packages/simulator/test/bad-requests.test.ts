import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../src/index.js';
import { AUTH, call, DS_HEADERS, dsBody, dsCreate, JSON_AUTH, type Json } from './sim-requests.js';

let sim: Simulator;
beforeAll(async () => {
  sim = await createSimulator({
    jobMs: 100,
    limits: { dashscopeSubmitsPerSecond: Number.POSITIVE_INFINITY, dashscopeGetPolicyPerSecond: 2 },
    dashscopeCancelError: {
      status: 409,
      code: 'TaskNotCancelable',
      message: 'Only PENDING tasks can be canceled.',
    },
  });
});
afterAll(() => sim.close());

describe('malformed requests', () => {
  it('answers malformed JSON with 400 in each provider envelope', async () => {
    const evo = await call(`${sim.url}/v1/videos/generations`, { headers: JSON_AUTH, body: '{"model":' });
    expect(evo.status).toBe(400);
    expect(evo.body.error).toMatchObject({ code: 'invalid_parameters', type: 'invalid_request_error' });
    const ds = await call(`${sim.dashscopeUrl}/services/aigc/image2video/video-synthesis`, {
      headers: DS_HEADERS,
      body: '[1,2]',
    });
    expect(ds.status).toBe(400);
    expect(ds.body).toMatchObject({ code: 'InvalidParameter' });
    const files = await call(`${sim.url}/api/v1/files/upload/base64`, { headers: JSON_AUTH, body: 'nope' });
    expect(files.status).toBe(400);
    expect(files.body).toMatchObject({ success: false, code: 400 });
  });

  it('answers unknown routes with 404 and counts them', async () => {
    sim.resetStats();
    const evo = await call(`${sim.url}/v1/nothing`);
    expect(evo.status).toBe(404);
    expect(evo.body.error.code).toBe('not_found');
    const ds = await call(`${sim.url}/qwen/api/v1/services/other`, {
      method: 'POST',
      headers: DS_HEADERS,
      body: {},
    });
    expect(ds.status).toBe(404);
    expect(Object.keys(ds.body).sort()).toEqual(['code', 'message', 'request_id']);
    expect(sim.stats().requests.not_found).toBe(2);
  });

  it('uses the configured error for cancelling a task that is not PENDING', async () => {
    const res = await call(`${sim.dashscopeUrl}/tasks/00000000-0000-0000-0000-000000000000/cancel`, {
      method: 'POST',
      headers: AUTH,
    });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      code: 'TaskNotCancelable',
      message: 'Only PENDING tasks can be canceled.',
    });
  });

  it('limits getPolicy per key and model and binds the upload to the model', async () => {
    const policy = (model: string) => call(`${sim.dashscopeUrl}/uploads?action=getPolicy&model=${model}`);
    expect((await policy('videoretalk')).status).toBe(200);
    const other = await policy('wan2.1-i2v');
    expect(other.status).toBe(200);
    expect((await policy('videoretalk')).status).toBe(200);
    const third = await policy('videoretalk');
    expect(third.status).toBe(429);
    expect(third.body.code).toBe('Throttling.RateQuota');
    const data: Json = other.body.data;
    const form = new FormData();
    for (const [k, v] of [
      ['OSSAccessKeyId', data.oss_access_key_id],
      ['Signature', data.signature],
      ['policy', data.policy],
      ['key', `${data.upload_dir}/a.wav`],
      ['success_action_status', '200'],
    ]) {
      form.append(k as string, v as string);
    }
    form.append('file', new Blob([new Uint8Array([82, 73, 70, 70])]), 'a.wav');
    expect((await fetch(data.upload_host, { method: 'POST', body: form })).status).toBe(200);
    const res = await dsCreate(sim, dsBody(sim, { audio_url: `oss://${data.upload_dir}/a.wav` }), {
      ...DS_HEADERS,
      'x-dashscope-ossresourceresolve': 'enable',
    });
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('another account or model');
  });

  it('lists and deletes EvoLink files', async () => {
    const up = await call(`${sim.url}/api/v1/files/upload/base64`, {
      headers: JSON_AUTH,
      body: { base64_data: Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1').toString('base64') },
    });
    expect(up.body.data.mime_type).toBe('image/gif');
    const list = await call(`${sim.url}/api/v1/files/list?page=1&pageSize=10`);
    expect(list.body.data.files.map((f: Json) => f.file_id)).toContain(up.body.data.file_id);
    const del = await call(`${sim.url}/api/v1/files/${up.body.data.file_id}`, {
      method: 'DELETE',
      headers: AUTH,
    });
    expect(del.body).toMatchObject({ success: true, code: 200 });
    const gone = await fetch(up.body.data.file_url);
    expect(gone.status).toBe(404);
    await gone.arrayBuffer();
    const again = await call(`${sim.url}/api/v1/files/${up.body.data.file_id}`, {
      method: 'DELETE',
      headers: AUTH,
    });
    expect(again.status).toBe(404);
  });

  it('refuses path tricks in EvoLink upload_path and file_name', async () => {
    const gif = Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1').toString('base64');
    for (const [body, field] of [
      [{ upload_path: '../etc', base64_data: gif }, 'upload_path'],
      [{ file_name: '../x.png', base64_data: gif }, 'file_name'],
    ] as const) {
      const res = await call(`${sim.url}/api/v1/files/upload/base64`, { headers: JSON_AUTH, body });
      expect(res.status).toBe(400);
      expect(res.body.success).toBe(false);
      expect(res.body.msg).toContain(field);
    }
  });
});
