import { readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { HOUR_MS, toEvolinkIso } from './clock.js';
import type { SimContext } from './context.js';
import { BodyTooLargeError, bearerToken, readBody, sendFile, sendJson } from './http-io.js';
import { evolinkFileId, randomAlnum, uuid } from './ids.js';
import { downloadToFile, isInputFailure } from './input-fetch.js';
import { sniffImage } from './media-probe.js';
import { boundaryOf, MultipartError, parseMultipart } from './multipart.js';

const FILE_TTL_MS = 72 * HOUR_MS;
const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];

interface StoredFile {
  fileId: string;
  account: string;
  fileName: string;
  originalName: string;
  uploadPath: string;
  mimeType: string;
  path: string;
  sizeBytes: number;
  uploadedAt: number;
}

/** EvoLink's file storage (files-api.evolink.ai): uploads living 72 h, per-key quota. */
export function createEvolinkFileStore(now: () => number) {
  const byId = new Map<string, StoredFile>();
  const byPublicPath = new Map<string, StoredFile>();
  const isLive = (f: StoredFile) => now() < f.uploadedAt + FILE_TTL_MS;
  return {
    byId,
    byPublicPath,
    isLive,
    liveFiles(account: string): StoredFile[] {
      return [...byId.values()].filter((f) => f.account === account && isLive(f));
    },
  };
}

export type EvolinkFileStore = ReturnType<typeof createEvolinkFileStore>;

function envelope(res: ServerResponse, status: number, msg: string, data: unknown = null): void {
  sendJson(res, status, { success: status < 300, code: status, msg, data });
}

/** Content sniffing first (what the bytes are), then the declared type, then the extension. */
export function detectMime(data: Buffer, declared: string | undefined, name: string): string {
  const image = sniffImage(data.subarray(0, 64 * 1024));
  if (image?.format) return image.format === 'jpeg' ? 'image/jpeg' : `image/${image.format}`;
  const ascii = data.toString('latin1', 0, 12);
  if (ascii.slice(4, 8) === 'ftyp') return ascii.slice(8, 10) === 'qt' ? 'video/quicktime' : 'video/mp4';
  if (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'WAVE') return 'audio/wav';
  if (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'AVI ') return 'video/x-msvideo';
  if (ascii.startsWith('ID3')) return 'audio/mpeg';
  if (data.length > 1 && data[0] === 0xff && ((data[1] ?? 0) & 0xf6) === 0xf0) return 'audio/aac';
  if (data.length > 1 && data[0] === 0xff && ((data[1] ?? 0) & 0xe0) === 0xe0) return 'audio/mpeg';
  if (data.length >= 4 && data.readUInt32BE(0) === 0x1a45dfa3) return 'video/webm';
  const clean = declared?.split(';')[0]?.trim().toLowerCase();
  if (clean && clean !== 'application/octet-stream') return clean;
  const ext = extname(name).toLowerCase();
  const byExt: Record<string, string> = {
    '.mp4': 'video/mp4',
    '.mov': 'video/quicktime',
    '.wav': 'audio/wav',
    '.mp3': 'audio/mpeg',
    '.m4a': 'audio/mp4',
    '.aac': 'audio/aac',
    '.png': 'image/png',
    '.jpg': 'image/jpeg',
    '.jpeg': 'image/jpeg',
    '.webp': 'image/webp',
    '.gif': 'image/gif',
  };
  return byExt[ext] ?? 'application/octet-stream';
}

function mimeAllowed(ctx: SimContext, mime: string): boolean {
  if (IMAGE_TYPES.includes(mime)) return true;
  return (
    ctx.options.evolinkFilesMimeTypes === 'media' && (mime.startsWith('audio/') || mime.startsWith('video/'))
  );
}

function allowedText(ctx: SimContext): string {
  return ctx.options.evolinkFilesMimeTypes === 'media'
    ? `${IMAGE_TYPES.join(', ')}, audio/*, video/*`
    : IMAGE_TYPES.join(', ');
}

const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

function cleanUploadPath(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return 'uploads';
  const segments = raw.split('/').filter((s) => s !== '');
  if (segments.length === 0 || segments.some((s) => s === '..' || s === '.' || !SAFE_SEGMENT.test(s)))
    return undefined;
  return segments.join('/');
}

function authorized(ctx: SimContext, req: IncomingMessage, res: ServerResponse): string | undefined {
  const key = bearerToken(req);
  if (key !== undefined && ctx.options.apiKeys.includes(key)) return key;
  envelope(res, 401, 'Unauthorized: a valid API key is required (Authorization: Bearer <key>)');
  return undefined;
}

const EXT_OF_MIME: Record<string, string> = {
  'image/jpeg': '.jpg',
  'image/png': '.png',
  'image/gif': '.gif',
  'image/webp': '.webp',
  'video/mp4': '.mp4',
  'video/quicktime': '.mov',
  'audio/wav': '.wav',
  'audio/mpeg': '.mp3',
  'audio/aac': '.aac',
};

async function store(
  ctx: SimContext,
  res: ServerResponse,
  account: string,
  data: Buffer,
  opts: {
    declaredType?: string | undefined;
    originalName: string;
    fileName?: string | undefined;
    uploadPath?: string | undefined;
  },
): Promise<void> {
  const maxBytes = ctx.options.evolinkFilesMaxBytes;
  if (data.length > maxBytes) {
    return envelope(res, 413, `File too large: ${data.length} bytes; the limit is ${maxBytes} bytes`);
  }
  if (data.length === 0) return envelope(res, 400, 'The file is empty');
  const mime = detectMime(data, opts.declaredType, opts.originalName);
  if (!mimeAllowed(ctx, mime)) {
    return envelope(res, 400, `Unsupported file type ${mime}; allowed: ${allowedText(ctx)}`);
  }
  const uploadPath = cleanUploadPath(opts.uploadPath);
  if (!uploadPath)
    return envelope(res, 400, 'upload_path may only contain letters, digits, ".", "_", "-" and "/"');
  if (opts.fileName !== undefined && !SAFE_SEGMENT.test(opts.fileName)) {
    return envelope(res, 400, 'file_name may only contain letters, digits, ".", "_" and "-"');
  }
  const files = ctx.evolinkFiles;
  if (files.liveFiles(account).length >= ctx.options.evolinkFilesQuota) {
    return envelope(
      res,
      403,
      `File quota exceeded: ${ctx.options.evolinkFilesQuota} files; delete files or wait for them to expire (72 h)`,
    );
  }
  const fileName =
    opts.fileName ??
    `${Date.now().toString(36)}${randomAlnum(8)}${EXT_OF_MIME[mime] ?? extname(opts.originalName)}`;
  const path = join(await ctx.workDir(), `evolink-file-${uuid()}`);
  await writeFile(path, data);
  const now = ctx.clock.now();
  const file: StoredFile = {
    fileId: evolinkFileId(),
    account,
    fileName,
    originalName: opts.originalName,
    uploadPath,
    mimeType: mime,
    path,
    sizeBytes: data.length,
    uploadedAt: now,
  };
  files.byId.set(file.fileId, file);
  files.byPublicPath.set(`${uploadPath}/${fileName}`, file);
  envelope(res, 200, 'File uploaded successfully', describe(ctx, file));
}

function describe(ctx: SimContext, f: StoredFile): Record<string, unknown> {
  return {
    file_id: f.fileId,
    file_name: f.fileName,
    original_name: f.originalName,
    file_size: f.sizeBytes,
    mime_type: f.mimeType,
    upload_path: f.uploadPath,
    file_url: `${ctx.baseUrl()}/files/${f.uploadPath}/${f.fileName}`,
    download_url: `${ctx.baseUrl()}/api/v1/files/download/${f.fileId}`,
    upload_time: toEvolinkIso(f.uploadedAt),
    expires_at: toEvolinkIso(f.uploadedAt + FILE_TTL_MS),
  };
}

async function readJson(req: IncomingMessage, limit: number): Promise<Record<string, unknown> | undefined> {
  const parsed: unknown = JSON.parse((await readBody(req, limit)).toString('utf8'));
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export async function handleEvolinkFiles(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const sub = url.pathname.slice('/api/v1/files'.length);
  if (req.method === 'GET' && sub.startsWith('/download/')) {
    ctx.count('evolink.files.download');
    const file = ctx.evolinkFiles.byId.get(decodeURIComponent(sub.slice('/download/'.length)));
    if (!file || !ctx.evolinkFiles.isLive(file)) return envelope(res, 404, 'File not found or expired');
    return sendFile(req, res, file.path, file.mimeType);
  }
  if (req.method === 'POST' && sub.startsWith('/upload/')) ctx.count('evolink.files.upload');
  else if (sub === '/quota') ctx.count('evolink.files.quota');
  else if (sub === '/list') ctx.count('evolink.files.list');
  else if (req.method === 'DELETE') ctx.count('evolink.files.delete');
  else ctx.count('not_found');
  const account = authorized(ctx, req, res);
  if (!account) return;
  const maxBody = ctx.options.evolinkFilesMaxBytes;
  try {
    if (req.method === 'POST' && sub === '/upload/stream') {
      const boundary = boundaryOf(req.headers['content-type']);
      if (!boundary) return envelope(res, 400, 'Send the file as multipart/form-data with a "file" field');
      const parts = parseMultipart(await readBody(req, maxBody + 1024 * 1024), boundary);
      const file = parts.find((p) => p.name === 'file');
      if (!file) return envelope(res, 400, 'Missing required field: file');
      const field = (...names: string[]) =>
        str(parts.find((p) => names.includes(p.name) && p.filename === undefined)?.data.toString('utf8'));
      return await store(ctx, res, account, file.data, {
        declaredType: file.contentType,
        originalName: file.filename ?? 'file',
        fileName: field('file_name', 'fileName'),
        uploadPath: field('upload_path', 'uploadPath'),
      });
    }
    if (req.method === 'POST' && sub === '/upload/base64') {
      const body = await readJson(req, Math.ceil(maxBody * 1.4) + 1024 * 1024);
      const raw = str(body?.base64_data ?? body?.base64Data);
      if (!body || !raw) return envelope(res, 400, 'Missing required field: base64_data');
      const m = /^data:([^;,]+)?(?:;[^,]*)?,(.*)$/s.exec(raw);
      const payload = m ? (m[2] ?? '') : raw;
      if (!/^[A-Za-z0-9+/=\s_-]*$/.test(payload))
        return envelope(res, 400, 'base64_data is not valid base64');
      return await store(ctx, res, account, Buffer.from(payload, 'base64'), {
        declaredType: m?.[1],
        originalName: str(body.file_name ?? body.fileName) ?? 'file',
        fileName: str(body.file_name ?? body.fileName),
        uploadPath: str(body.upload_path ?? body.uploadPath),
      });
    }
    if (req.method === 'POST' && sub === '/upload/url') {
      const body = await readJson(req, 1024 * 1024);
      const fileUrl = str(body?.file_url ?? body?.fileUrl);
      if (!body || !fileUrl) return envelope(res, 400, 'Missing required field: file_url');
      let parsed: URL;
      try {
        parsed = new URL(fileUrl);
        if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError('scheme');
      } catch {
        return envelope(res, 400, 'file_url must be an http(s) URL');
      }
      const dest = join(await ctx.workDir(), `evolink-fetch-${uuid()}`);
      const got = await downloadToFile(fileUrl, dest, {
        timeoutMs: ctx.options.inputTimeoutMs,
        maxBytes: maxBody,
        shutdown: ctx.shutdown,
      });
      if (isInputFailure(got)) return envelope(res, 400, `Failed to download file_url: ${got.message}`);
      try {
        const data = await readFile(got.path);
        const originalName = decodeURIComponent(parsed.pathname.split('/').pop() || 'file');
        return await store(ctx, res, account, data, {
          declaredType: got.contentType,
          originalName,
          fileName: str(body.file_name ?? body.fileName),
          uploadPath: str(body.upload_path ?? body.uploadPath),
        });
      } finally {
        await rm(got.path, { force: true });
      }
    }
  } catch (error) {
    if (error instanceof BodyTooLargeError)
      return envelope(res, 413, `File too large; the limit is ${maxBody} bytes`);
    if (error instanceof MultipartError)
      return envelope(res, 400, `Malformed multipart body: ${error.message}`);
    if (error instanceof SyntaxError) return envelope(res, 400, 'The request body must be a JSON object');
    throw error;
  }
  if (req.method === 'GET' && sub === '/quota') {
    const used = ctx.evolinkFiles.liveFiles(account).length;
    const max = ctx.options.evolinkFilesQuota;
    return envelope(res, 200, 'success', {
      user_group: 'default',
      used_files: used,
      max_files: max,
      remain_files: Math.max(0, max - used),
    });
  }
  if (req.method === 'GET' && sub === '/list') {
    const page = Math.max(1, Number.parseInt(url.searchParams.get('page') ?? '1', 10) || 1);
    const pageSize = Math.min(
      100,
      Math.max(1, Number.parseInt(url.searchParams.get('pageSize') ?? '20', 10) || 20),
    );
    const files = ctx.evolinkFiles.liveFiles(account).sort((a, b) => b.uploadedAt - a.uploadedAt);
    return envelope(res, 200, 'success', {
      files: files.slice((page - 1) * pageSize, page * pageSize).map((f) => describe(ctx, f)),
      total: files.length,
      page,
      pageSize,
    });
  }
  if (req.method === 'DELETE' && /^\/[^/]+$/.test(sub)) {
    const file = ctx.evolinkFiles.byId.get(decodeURIComponent(sub.slice(1)));
    if (!file || file.account !== account) return envelope(res, 404, 'File not found');
    ctx.evolinkFiles.byId.delete(file.fileId);
    ctx.evolinkFiles.byPublicPath.delete(`${file.uploadPath}/${file.fileName}`);
    await rm(file.path, { force: true });
    return envelope(res, 200, 'File deleted successfully');
  }
  envelope(res, 404, `No files API route ${req.method} ${url.pathname}`);
}

/** GET /files/<upload_path>/<file_name>: the public file_url, gone after 72 h. */
export async function handleEvolinkFileUrl(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  ctx.count('evolink.files.download');
  const file = ctx.evolinkFiles.byPublicPath.get(decodeURIComponent(url.pathname.slice('/files/'.length)));
  if (!file || !ctx.evolinkFiles.isLive(file)) return envelope(res, 404, 'File not found or expired');
  await sendFile(req, res, file.path, file.mimeType);
}
