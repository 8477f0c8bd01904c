/* The HTTP API, as both pages call it: JSON in and out, the server's error body as an ApiError. */
import { carriesDevice, deviceId } from './device.js';

/** A refused or failed request: HTTP status (0 without an answer), error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
    this.handled = false; // set by a page's onError when it has already acted (e.g. signed out)
    this.expiresAt = null; // a `banned` refusal: when the ban ends (ms), null until lifted
  }
}

/**
 * A function `api(method, path, body, { auth = true })` for one page. `token()` gives the bearer
 * token to send. `onError(err, path)` sees every refusal of an authenticated call first, so a page
 * can end its session on 401 in one place (and mark `err.handled`); the error is thrown anyway.
 */
export function createApi({ token, onError }) {
  return async function api(method, path, body, { auth = true } = {}) {
    const headers = { Accept: 'application/json' };
    const bearer = auth ? token() : null;
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (carriesDevice(path)) headers['X-Chat-Device'] = deviceId();
    let res;
    try {
      res = await fetch(path, {
        method, headers, cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (_) {
      throw new ApiError(0, 'network', 'Can’t reach the server. Check your connection and try again.');
    }
    let data = null;
    try { data = await res.json(); } catch (_) { /* empty or non-JSON body */ }
    if (res.ok) return data || {};
    const info = (data && data.error) || {};
    const err = new ApiError(res.status, info.code || `http_${res.status}`,
      info.message || `Something went wrong (${res.status}). Please try again.`);
    if (typeof info.expires_at === 'number') err.expiresAt = info.expires_at;
    if (auth && onError) onError(err, path);
    throw err;
  };
}
