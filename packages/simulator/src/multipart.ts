/** One part of a multipart/form-data body, in the order the client sent it. */
export interface FormPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

export class MultipartError extends Error {
  override readonly name = 'MultipartError';
  readonly code = 'invalid_multipart';
}

export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data/i.test(contentType)) return undefined;
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m?.[1] ?? m?.[2];
}

/** Parses a buffered multipart/form-data body, keeping part order (OSS needs `file` last). */
export function parseMultipart(body: Buffer, boundary: string): FormPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: FormPart[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw new MultipartError('multipart body has no boundary line');
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break;
    if (body.subarray(pos, pos + 2).toString() === '\r\n') pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw new MultipartError('multipart part has no header end');
    const headerText = body.subarray(pos, headerEnd).toString('utf8');
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headerEnd + 4);
    if (next < 0) throw new MultipartError('multipart body is not terminated');
    const data = body.subarray(headerEnd + 4, next);
    const part: Partial<FormPart> = { data };
    for (const line of headerText.split('\r\n')) {
      const [rawName, ...rest] = line.split(':');
      const headerName = rawName?.trim().toLowerCase();
      const value = rest.join(':').trim();
      if (headerName === 'content-disposition') {
        const name = /\bname="([^"]*)"/i.exec(value)?.[1];
        const filename = /\bfilename="([^"]*)"/i.exec(value)?.[1];
        if (name !== undefined) part.name = name;
        if (filename !== undefined) part.filename = filename;
      } else if (headerName === 'content-type') {
        part.contentType = value;
      }
    }
    if (part.name === undefined) throw new MultipartError('multipart part has no name');
    parts.push(part as FormPart);
    pos = next + 2;
  }
  return parts;
}
