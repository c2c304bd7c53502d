// The search benchmark's flags, checked, as one plain object. Algorithms and their options are
// strings and JSON passed through to InvertedIndex.search untouched, so algorithms and knobs that
// the index learns later work here without a change.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export const COLLECTION_NAMES = ['splade', 'uniform', 'topical', 'real'] as const;
export type CollectionName = (typeof COLLECTION_NAMES)[number];

/** One row of the tables: an algorithm with one setting of its options. */
export interface SearchSetting {
  algorithm: string;
  options: Record<string, unknown>;
}

export interface BenchConfig {
  collections: CollectionName[];
  docs: number;
  queries: number;
  ks: number[];
  settings: SearchSetting[];
  build: Record<string, unknown>;
  seed: number;
  repeat: number;
  /** Index file to reuse (opened when present, else built and saved there); may hold {collection}. */
  index?: string;
  /** Build even when the index file exists, and overwrite it. */
  rebuild: boolean;
  json?: string;
  /** Per-query times in the JSON (large). */
  times: boolean;
  /** Store the collection's external document ids in the index ('real' has them). */
  docIds: boolean;
}

export const HELP = `usage: npx tsx bench/search/search.bench.ts [options]

  --collection splade|uniform|topical|real[,...]  collections (default splade); with several, each
                           runs in its own process (clean peak RSS) and the tables are merged
  --docs N                 documents (default 1000000; 'real' has 23,062 and takes at most that)
  --queries N              queries (default 1000; 'real' has 447)
  --k 10,1000              result depths (default 10,1000)
  --algorithms a,b,...     default exhaustive,wand,maxscore,bmw; exhaustive always runs first (the
                           reference for recall)
  --opts 'ALG:{json}'      search options for ALG, passed to search() as they are; repeatable:
                           several settings of one algorithm each get a row. ALG need not be in
                           --algorithms. '--opts @FILE.json' reads { "ALG": {..} | [{..}, ..] }
  --build '{json}'         build options (e.g. '{"reorder":"bp"}'), passed to build() as they are
  --index PATH             reuse this index file: open it when it exists (a PATH.json beside it
                           says what it holds and must match), else build and save it there;
                           {collection} in PATH stands for the collection's name
  --save PATH              the same as --index PATH --rebuild: build and (over)write PATH
  --rebuild                build even when the --index file exists
  --seed N                 collection seed (default 1)
  --repeat N               rounds over the queries, round-robin across the rows; each query's
                           time is its best round (default 1)
  --json FILE              write the raw figures
  --times                  with --json: every query's time too
  --doc-ids                store the collection's document ids in the index ('real' has them:
                           "<collection>/<id>"); off by default, since returning them costs every
                           algorithm the same per result and adds bytes the synthetic ones lack`;

function int(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  return n;
}

function list(text: string | undefined, fallback: string): string[] {
  return (text ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);
}

function jsonObject(what: string, text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what}: not valid JSON (${(e as Error).message}): ${text}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what}: expected a JSON object, got ${text}`);
  return v as Record<string, unknown>;
}

/** '--opts' values: 'ALG:{json}' or '@FILE.json', in the order given. */
export function parseSearchOptions(values: string[]): SearchSetting[] {
  const out: SearchSetting[] = [];
  for (const v of values) {
    if (v.startsWith('@')) {
      const file = jsonObject(`--opts ${v}`, readFileSync(v.slice(1), 'utf8'));
      for (const [algorithm, settings] of Object.entries(file)) {
        for (const options of Array.isArray(settings) ? settings : [settings]) {
          out.push({ algorithm, options: jsonObject(`--opts ${v} (${algorithm})`, JSON.stringify(options)) });
        }
      }
      continue;
    }
    const colon = v.indexOf(':');
    if (colon <= 0) throw new Error(`--opts: expected ALG:{json} or @FILE.json, got ${JSON.stringify(v)}`);
    out.push({ algorithm: v.slice(0, colon), options: jsonObject(`--opts ${v}`, v.slice(colon + 1)) });
  }
  return out;
}

/**
 * The rows, in order: exhaustive first (the reference), then each algorithm of --algorithms, then
 * those only --opts names; an algorithm with --opts gets one row per setting, else one with none.
 */
export function searchSettings(algorithms: string[], withOptions: SearchSetting[]): SearchSetting[] {
  const order = ['exhaustive', ...algorithms.filter((a) => a !== 'exhaustive')];
  for (const s of withOptions) if (!order.includes(s.algorithm)) order.push(s.algorithm);
  return order.flatMap((algorithm) => {
    const given = withOptions.filter((s) => s.algorithm === algorithm);
    return given.length > 0 ? given : [{ algorithm, options: {} }];
  });
}

export function parseBenchArgs(argv: string[]): BenchConfig | null {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      collection: { type: 'string' }, docs: { type: 'string' }, queries: { type: 'string' }, k: { type: 'string' },
      algorithms: { type: 'string' }, opts: { type: 'string', multiple: true }, build: { type: 'string' },
      index: { type: 'string' }, save: { type: 'string' }, rebuild: { type: 'boolean' }, seed: { type: 'string' },
      repeat: { type: 'string' }, json: { type: 'string' }, times: { type: 'boolean' }, 'doc-ids': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    console.log(HELP);
    return null;
  }
  const collections = list(v.collection, 'splade');
  for (const c of collections) {
    if (!(COLLECTION_NAMES as readonly string[]).includes(c)) throw new Error(`--collection: expected ${COLLECTION_NAMES.join(', ')}, got ${JSON.stringify(c)}`);
  }
  const ks = list(v.k, '10,1000').map((k) => int('k', k, 0, 1));
  if (v.index !== undefined && v.save !== undefined) throw new Error('--index and --save: give one (--save PATH is --index PATH --rebuild)');
  return {
    collections: collections as CollectionName[],
    docs: int('docs', v.docs, 1_000_000, 1),
    queries: int('queries', v.queries, 1000, 1),
    ks,
    settings: searchSettings(list(v.algorithms, 'exhaustive,wand,maxscore,bmw'), parseSearchOptions(v.opts ?? [])),
    build: v.build === undefined ? {} : jsonObject('--build', v.build),
    seed: int('seed', v.seed, 1, 0),
    repeat: int('repeat', v.repeat, 1, 1),
    index: v.index ?? v.save,
    rebuild: v.rebuild === true || v.save !== undefined,
    json: v.json,
    times: v.times === true,
    docIds: v['doc-ids'] === true,
  };
}

/** The flags that make a child process run one collection of this configuration. */
export function argsForCollection(argv: string[], collection: CollectionName, json: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i].split('=')[0];
    if (flag === '--collection' || flag === '--json') {
      if (!argv[i].includes('=')) i++;
      continue;
    }
    out.push(argv[i]);
  }
  return [...out, '--collection', collection, '--json', json];
}
