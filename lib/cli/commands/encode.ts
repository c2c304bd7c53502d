import { SpladeError } from '../../errors.js';
import { closeSync, createWriteStream, existsSync, fstatSync, openSync, readSync, renameSync, truncateSync } from 'node:fs';

import { readVectors, vectorLine } from '../../data/vectors.js';
import { TermStats, formatEfficiency } from '../../eval/efficiency.js';
import { loadSparseEncoder } from '../../model/ensemble.js';
import { encodeStream } from '../../pipeline.js';
import { MODEL_FLAGS_HELP, intOption, modelFlags, modelLoadOptions, parse, required } from '../args.js';
import { TEXT_FLAGS_HELP, encoderQueryWeights, queryIdf, readModelTexts, textFlags, textMode } from '../text-options.js';
import { Progress } from '../../progress.js';

const HELP = `usage: splade encode --model DIR|ORG/NAME[,DIR...] --input FILE --out VECTORS.jsonl [options]

Encodes a corpus (BEIR corpus.jsonl or MS MARCO collection.tsv) or queries (queries.jsonl /
queries.tsv, with --kind query) into SPLADE vectors, one JSON line each:
{"id", "indices", "values"}. Resumable: an interrupted run leaves OUT.partial, and the next run
with the same arguments skips the ids already there; OUT appears only when everything is encoded.
Several models joined by commas (one vocabulary) encode as an ensemble: each text's vector is the
sum of theirs, so the ensemble is one index and one search.

options:
  --kind document|query   which encoder and default length (default document)
  --batch-size N          texts per forward pass (default 32)
  --max-length N          tokens per text, special tokens included
  --top-k N               keep the N largest weights
${TEXT_FLAGS_HELP}
${MODEL_FLAGS_HELP}
  --threads N             native threads (every command takes it)`;

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, {
    model: { type: 'string' }, input: { type: 'string' }, out: { type: 'string' }, kind: { type: 'string' },
    'batch-size': { type: 'string' }, 'max-length': { type: 'string' }, 'top-k': { type: 'string' }, ...modelFlags, ...textFlags,
  }, HELP);
  if (!v) return 0;
  const kind = (v.kind ?? 'document') as 'query' | 'document';
  if (kind !== 'query' && kind !== 'document') throw new SpladeError('--kind must be query or document');
  const out = required(v, 'out');
  const mode = textMode(v);
  if (kind === 'document' && (v['query-weights'] !== undefined || v.corpus !== undefined)) throw new SpladeError('--query-weights and --corpus are for --kind query');
  const partial = `${out}.partial`;
  const done = new Set<string>();
  if (existsSync(partial)) {
    // Every record ends with a newline, so bytes after the last one are a line the interruption cut.
    truncateSync(partial, endOfLastLine(partial));
    for await (const r of readVectors(partial)) done.add(r.id);
    console.error(`resuming: ${done.size} vectors already in ${partial}`);
  }
  const model = await loadSparseEncoder(required(v, 'model'), modelLoadOptions(v));
  const input = required(v, 'input');
  const idf = kind === 'query' ? await queryIdf(v, model, mode) : null;
  const todo = (async function* () {
    for await (const t of readModelTexts(input, kind, mode)) if (!done.has(t.id)) yield t;
  })();
  const progress = new Progress({ label: `encode ${kind}s`, unit: 'texts' });
  const stats = new TermStats();
  const sink = createWriteStream(partial, { flags: 'a' });
  // inference-free queries: no encoder pass, each query its word pieces x idf over the corpus (or the model's weights)
  const vectors = idf ? (async function* () {
    for await (const t of todo) {
      progress.tick(1);
      yield { id: t.id, vector: idf.query(t.text) };
    }
  })() : encodeStream(model, todo, {
    kind, batchSize: intOption(v, 'batch-size', 32), maxLength: v['max-length'] ? intOption(v, 'max-length', 256) : undefined,
    topK: v['top-k'] ? intOption(v, 'top-k', 1) : undefined, queryWeights: encoderQueryWeights(v), onBatch: (n) => progress.tick(n),
  });
  for await (const { id, vector } of vectors) {
    stats.add(vector);
    if (!sink.write(vectorLine(id, vector))) await new Promise<void>((r) => sink.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => sink.end((err?: Error | null) => (err ? reject(err) : resolve())));
  progress.finish();
  renameSync(partial, out);
  console.error(`wrote ${out}: ${formatEfficiency(kind === 'query' ? { avgQueryTerms: stats.averageTerms } : { avgDocTerms: stats.averageTerms })}`);
  return 0;
}

/** Offset just past the file's last newline (0 when it has none), reading backwards from the end. */
function endOfLastLine(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 16);
    for (let end = fstatSync(fd).size; end > 0; ) {
      const start = Math.max(0, end - buf.length);
      const n = readSync(fd, buf, 0, end - start, start);
      const at = buf.subarray(0, n).lastIndexOf(0x0a);
      if (at >= 0) return start + at + 1;
      end = start;
    }
    return 0;
  } finally {
    closeSync(fd);
  }
}
