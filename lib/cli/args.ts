// Shared option parsing for the CLI commands: node's parseArgs plus typed, checked accessors, so
// every command reports a bad option the same way (a SpladeError, exit code 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { ErrorCode, SpladeError } from '../errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(argv: string[], options: Options, help: string): Record<string, string | boolean | undefined> | null {
  const { values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
  if (values.help) {
    console.log(help);
    return null;
  }
  return values as Record<string, string | boolean | undefined>;
}

export function required(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new SpladeError(`--${name} is required (see --help)`, ErrorCode.invalidArgument);
  return v;
}

export function intOption(values: Record<string, unknown>, name: string, fallback: number, min = 1): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new SpladeError(`--${name} must be an integer >= ${min}, got ${String(v)}`, ErrorCode.invalidArgument);
  return n;
}

export function floatOption(values: Record<string, unknown>, name: string, fallback: number): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new SpladeError(`--${name} must be a number, got ${String(v)}`, ErrorCode.invalidArgument);
  return n;
}

export function listOption(values: Record<string, unknown>, name: string, fallback: string[]): string[] {
  const v = values[name];
  if (typeof v !== 'string') return fallback;
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}
