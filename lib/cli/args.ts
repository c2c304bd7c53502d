// Shared option parsing for the CLI commands: node's parseArgs plus typed, checked accessors, so
// every command reports a bad option the same way (a SpladeError, exit code 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { ErrorCode, SpladeError } from '../errors.js';
import type { SearchAlgorithm } from '../search/inverted-index.js';

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

/** --precision and --device, the model-loading flags of every command that encodes. */
export const modelFlags = { precision: { type: 'string' }, device: { type: 'string' } } as const;
export const MODEL_FLAGS_HELP = `  --precision fp32|bf16|int8  encoder arithmetic (default fp32; see README "Speed and precision")
  --device cpu|cuda           where the encoder runs (default cpu)`;

export function modelLoadOptions(values: Record<string, unknown>): { precision?: 'fp32' | 'bf16' | 'int8'; device?: 'cpu' | 'cuda' } {
  const p = values.precision, d = values.device;
  if (p !== undefined && p !== 'fp32' && p !== 'bf16' && p !== 'int8') throw new SpladeError(`--precision must be fp32, bf16 or int8, got ${String(p)}`, ErrorCode.invalidArgument);
  if (d !== undefined && d !== 'cpu' && d !== 'cuda') throw new SpladeError(`--device must be cpu or cuda, got ${String(d)}`, ErrorCode.invalidArgument);
  return { precision: p as 'fp32' | 'bf16' | 'int8' | undefined, device: d as 'cpu' | 'cuda' | undefined };
}

/** --algorithm, --alpha, --beta and --blocks: how 'splade search' and 'splade bench' search an index. */
export const searchFlags = { algorithm: { type: 'string' }, alpha: { type: 'string' }, beta: { type: 'string' }, blocks: { type: 'string' } } as const;
export const SEARCH_FLAGS_HELP = `  --algorithm A             maxscore (default), bmp, bmw, wand or exhaustive: the same results at
                            other speeds; approximate: faster, may miss some (scores stay exact)
  --alpha X, --beta X       approximate only, in (0, 1] (default alpha 0.9, beta 1; both 1 is exact): alpha
                            visits a block while its bound x alpha reaches the k-th score, beta keeps
                            the heaviest query terms carrying that share of the query's weight
  --blocks N                approximate over an index built with --store compact (its top-block
                            lists): the blocks scored a query (default 100; 0: all its lists reach)`;

export function searchOptions(values: Record<string, unknown>): { algorithm: SearchAlgorithm; alpha?: number; beta?: number; blocks?: number } {
  const algorithm = ((values.algorithm as string | undefined) ?? 'maxscore') as SearchAlgorithm;
  const knob = (name: 'alpha' | 'beta') => (values[name] === undefined ? undefined : floatOption(values, name, 1));
  const blocks = values.blocks === undefined ? undefined : intOption(values, 'blocks', 100, 0);
  return { algorithm, alpha: knob('alpha'), beta: knob('beta'), blocks };
}
