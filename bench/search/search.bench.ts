// Search benchmark: per collection, the build (generation and build in one streamed pass, rate,
// peak RSS, index bytes and bytes a posting), then for each k and each search setting the mean /
// p50 / p99 ms a query on one thread (synchronous search()), the speed-up against exhaustive and
// MaxScore, the postings scored, and recall@k against exhaustive search (exact algorithms must show
// 1.000; a loud warning says when one does not). Prints markdown tables for bench/RESULTS.md and,
// with --json, the raw figures.
//
// Collections (each file states its statistics): splade (splade-collection.ts, the original one:
// frequent terms weigh less), uniform (uniform-collection.ts: weights independent of term
// frequency), topical (topical-collection.ts: a mixture of 500 topics), real (real-collection.ts:
// the package's own trained model on the five shared collections, 23,062 documents; make its
// vectors first with `nice -n 10 npx tsx bench/search/real-vectors.ts`). The generated ones are
// deterministic from --seed and streamed: no run holds every vector in JavaScript, up to 8.8M
// documents (~1.06 billion postings).
//
//   flock /tmp/bench.lock nice -n 10 npx tsx bench/search/search.bench.ts --collection uniform,topical \
//     --docs 1000000 --queries 1000 --k 10,1000 --algorithms exhaustive,wand,maxscore,bmw
//   ... --algorithms exhaustive,maxscore,bmp --opts 'approximate:{"blocks":64}' --opts 'approximate:{}' \
//     --build '{"reorder":"bp"}' --index /data/{collection}-8.8M-bp.idx --docs 8800000 --queries 200
//
// (--help lists every flag.) SPLADE_ADDON=/work/addon-base/splade.node runs it on the prebuilt addon.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

import { argsForCollection, parseBenchArgs, type BenchConfig, type CollectionName } from './args.js';
import { buildOrOpen } from './build-index.js';
import { openCollection } from './collections.js';
import { measureSettings, type SettingFigures } from './measure.js';
import { markdownReport, type BenchRun, type CollectionResult } from './report.js';

const argv = process.argv.slice(2);
const shellQuote = (a: string) => (/^[\w./,:=@{}-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

async function runCollection(config: BenchConfig, name: CollectionName): Promise<CollectionResult> {
  const collection = await openCollection(name, config.seed);
  const docs = Math.min(config.docs, collection.maxDocs);
  const queries = await collection.queries(config.queries);
  const scratch = config.index === undefined ? mkdtempSync(join(tmpdir(), 'splade-search-bench-')) : undefined;
  const path = scratch ? join(scratch, `${name}.idx`) : config.index!.replaceAll('{collection}', name);
  try {
    console.error(`${name}: ${collection.description}`);
    const opened = await buildOrOpen(collection, { collection: name, docs, seed: config.seed, build: config.build, docIds: config.docIds }, path, config.rebuild);
    const { index, figures } = opened;
    console.error(`${name}: ${figures.docs} documents, ${figures.postings} postings; generation + build ${figures.seconds.toFixed(1)} s, ${figures.bytesPerPosting.toFixed(3)} bytes a posting`);
    const rows: SettingFigures[] = [];
    for (const k of config.ks) {
      const t0 = performance.now();
      rows.push(...measureSettings(index, queries, k, config.settings, config.repeat, config.times));
      console.error(`${name}: k = ${k} measured in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    index.dispose();
    const result: CollectionResult = {
      collection: name, description: collection.description, seed: config.seed,
      build: { ...figures, options: config.build, reused: opened.reused, openSeconds: opened.openSeconds },
      queries: queries.length, avgQueryTerms: queries.reduce((a, q) => a + q.indices.length, 0) / queries.length,
      rows, peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
    return result;
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

/** Several collections: one child process each, so each peak RSS is that collection's own. */
function runChildren(config: BenchConfig): CollectionResult[] {
  if (config.index !== undefined && !config.index.includes('{collection}')) throw new Error('--index with several collections needs {collection} in the path');
  const dir = mkdtempSync(join(tmpdir(), 'splade-search-bench-'));
  try {
    return config.collections.map((name) => {
      const json = join(dir, `${name}.json`);
      const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1], ...argsForCollection(argv, name, json)], { stdio: 'inherit' });
      if (child.status !== 0) throw new Error(`the ${name} run failed (exit ${child.status ?? child.signal})`);
      return (JSON.parse(readFileSync(json, 'utf8')) as BenchRun).results[0];
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const config = parseBenchArgs(argv);
if (config) {
  const started = new Date().toISOString();
  const loadAverage = loadavg();
  const results = config.collections.length > 1 ? runChildren(config) : [await runCollection(config, config.collections[0])];
  const run: BenchRun = {
    command: `npx tsx bench/search/search.bench.ts ${argv.map(shellQuote).join(' ')}`,
    machine: `${cpus().length} cores (${cpus()[0]?.model ?? '?'})`,
    node: process.version, started, loadAverage, repeat: config.repeat, results,
  };
  if (config.json) writeFileSync(config.json, `${JSON.stringify(run, null, 2)}\n`);
  console.log(`\n${markdownReport(run)}`);
}
