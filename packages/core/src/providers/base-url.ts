import { InvalidRequestError } from '../errors.js';

/** Checks that `url` is an http(s) URL and drops trailing slashes; `field` names it in the error. */
export function checkBaseUrl(url: string, field: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new InvalidRequestError(`${field} "${url}" is not a URL`, {
      field,
      allowed: 'an http(s) URL',
      cause,
    });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidRequestError(`${field} must use http or https`, { field, allowed: 'an http(s) URL' });
  }
  return url.replace(/\/+$/, '');
}
