/*
 * The HTTP plumbing of `splade serve`, on node:http alone: a handful of routes need no framework,
 * and the hot path (parse the URL, search, write one JSON body) stays free of middleware layers.
 * Every failure a client can cause is an HttpError, answered as `{ error: { code, message } }` with
 * its 4xx status; the server goes on serving.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request the server refuses: status (4xx, or 503 when overloaded), a stable code, a message. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  // A refused body may still be arriving: close the connection after the answer rather than read it.
  if (err.status === 413) res.setHeader('connection', 'close');
  sendJson(res, err.status, { error: { code: err.code, message: err.message } });
}

/** The request body as text, refused with 413 once it passes maxBytes (the rest is not read). */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBytes) {
        done = true;
        req.pause();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (e) => {
      if (done) return;
      done = true;
      reject(new HttpError(400, 'bad_request', `reading the request body failed: ${e.message}`));
    });
  });
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, 'payload_too_large', `the request body is larger than ${maxBytes} bytes`);
}

/** JSON.parse with a 400 naming the problem. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, 'bad_json', `the request body is not valid JSON: ${(e as Error).message}`);
  }
}

/** A required, non-empty query parameter. */
export function requiredParam(params: URLSearchParams, name: string, maxLength: number): string {
  const v = params.get(name);
  if (v === null || v.trim() === '') throw new HttpError(400, 'missing_parameter', `the query parameter '${name}' is required`);
  if (v.length > maxLength) throw new HttpError(400, 'out_of_range', `the query parameter '${name}' is longer than ${maxLength} characters`);
  return v;
}

/** An integer parameter in [min, max], fallback when absent (also used for JSON body fields). */
export function intParam(name: string, raw: unknown, fallback: number, min: number, max: number): number {
  if (raw === null || raw === undefined || raw === '') return fallback;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isInteger(n)) throw new HttpError(400, 'invalid_parameter', `'${name}' must be an integer, got ${JSON.stringify(raw)}`);
  if (n < min || n > max) throw new HttpError(400, 'out_of_range', `'${name}' must be in [${min}, ${max}], got ${n}`);
  return n;
}
