// Errors the package throws. Native failures arrive as Errors with a stable `code` (see
// native/common/error.h); argument checks in TypeScript use the same codes and uniform messages.

export const ErrorCode = {
  invalidArgument: 'ERR_SPLADE_INVALID_ARGUMENT',
  outOfRange: 'ERR_SPLADE_OUT_OF_RANGE',
  corruptFile: 'ERR_SPLADE_CORRUPT_FILE',
  io: 'ERR_SPLADE_IO',
  unsupported: 'ERR_SPLADE_UNSUPPORTED',
  cuda: 'ERR_SPLADE_CUDA',
  internal: 'ERR_SPLADE_INTERNAL',
  noAddon: 'ERR_SPLADE_NO_ADDON',
  /** Another IndexWriter holds the live index directory (its write.lock). */
  locked: 'ERR_SPLADE_LOCKED',
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class SpladeError extends Error {
  readonly code: string;
  constructor(message: string, code: string = ErrorCode.invalidArgument, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpladeError';
    this.code = code;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'string') return `${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)} of type string`;
  if (typeof value === 'object') return 'an object';
  return `${String(value)} of type ${typeof value}`;
}

/** Throws `Expected <what> for <name> but received <value>` with code ERR_SPLADE_INVALID_ARGUMENT. */
export function invalidArgument(name: string, what: string, value: unknown): never {
  throw new SpladeError(`Expected ${what} for ${name} but received ${describe(value)}`, ErrorCode.invalidArgument);
}

export function expectInteger(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const what =
      min === 1 && max === Infinity ? 'a positive integer'
        : min === 0 && max === Infinity ? 'a non-negative integer'
          : `an integer in [${min}, ${max}]`;
    invalidArgument(name, what, value);
  }
  return value;
}

export function expectFinite(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) invalidArgument(name, 'a finite number', value);
  return value;
}

export function expectOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    invalidArgument(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

export function expectString(name: string, value: unknown): string {
  if (typeof value !== 'string') invalidArgument(name, 'a string', value);
  return value;
}

/**
 * Calls into the addon; a native Error keeps its message and code but gets the caller's stack, so
 * traces point at user code rather than at the binding.
 */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw graft(err, new Error());
  }
}

/** Same as callNative for a Promise-returning native call: capture the stack before awaiting. */
export async function callNativeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const site = new Error();
  try {
    return await fn();
  } catch (err) {
    throw graft(err, site);
  }
}

function graft(err: unknown, site: Error): unknown {
  if (err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && !(err instanceof SpladeError)) {
    const out = new SpladeError(err.message, (err as unknown as { code: string }).code);
    out.stack = `SpladeError: ${err.message}\n${(site.stack ?? '').split('\n').slice(2).join('\n')}`;
    return out;
  }
  return err;
}
