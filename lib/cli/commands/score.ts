import { writeFileAtomic } from '../../data/atomic.js';
import { readLines } from '../../data/lines.js';
import { ErrorCode, SpladeError } from '../../errors.js';
import { CrossEncoder } from '../../model/cross-encoder.js';
import { readTexts } from '../../pipeline.js';
import { intOption, parse, required } from '../args.js';
import { Progress } from '../../progress.js';

const HELP = `usage: splade score --negatives IN.jsonl --corpus CORPUS --queries QUERIES --model CROSS_DIR|ORG/NAME --out OUT.jsonl [options]

Adds cross-encoder teacher scores to a negatives file (as \`splade mine\` writes it): every record
{"qid", "pos": [...], "neg": {name: [...]}} gets "scores": {"<docid>": logit, ...} for each of its
positive and negative documents. The model is a BertForSequenceClassification with one label (e.g.
cross-encoder/ms-marco-MiniLM-L-6-v2). Streams the records; only the documents they name are kept
in memory; OUT is written atomically.

options:
  --batch-size N     pairs per forward pass (default 32)
  --max-length N     tokens per pair (default 512, capped at the model's positions)
  --threads N        CPU threads`;

interface Record_ {
  qid: string;
  pos: string[];
  neg: Record<string, string[]>;
  [key: string]: unknown;
}

function parseRecord(text: string, file: string, lineNo: number): Record_ {
  const bad = (what: string) => new SpladeError(`${file}:${lineNo}: ${what}`, ErrorCode.corruptFile);
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch (err) {
    throw bad(`not valid JSON (${(err as Error).message})`);
  }
  const rec = r as Record_;
  if (!rec || typeof rec !== 'object' || typeof rec.qid !== 'string') throw bad('expected a record with a string "qid"');
  const ids = (v: unknown, name: string) => {
    if (!Array.isArray(v) || !v.every((d) => typeof d === 'string')) throw bad(`expected "${name}" to be an array of document ids`);
  };
  ids(rec.pos, 'pos');
  if (!rec.neg || typeof rec.neg !== 'object' || Array.isArray(rec.neg)) throw bad('expected "neg" to be an object of document id arrays');
  for (const [name, list] of Object.entries(rec.neg)) ids(list, `neg.${name}`);
  return rec;
}

function docsOf(r: Record_): string[] {
  return [...new Set([...r.pos, ...Object.values(r.neg).flat()])];
}

async function* records(file: string): AsyncGenerator<Record_> {
  for await (const line of readLines(file)) {
    if (line.text.trim() === '') continue;
    yield parseRecord(line.text, file, line.lineNo);
  }
}

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, {
    negatives: { type: 'string' }, corpus: { type: 'string' }, queries: { type: 'string' }, model: { type: 'string' },
    out: { type: 'string' }, 'batch-size': { type: 'string' }, 'max-length': { type: 'string' }, threads: { type: 'string' },
  }, HELP);
  if (!v) return 0;
  const negatives = required(v, 'negatives');
  const corpusPath = required(v, 'corpus');
  const queriesPath = required(v, 'queries');
  const modelPath = required(v, 'model');
  const out = required(v, 'out');
  const batchSize = intOption(v, 'batch-size', 32);
  const maxLength = v['max-length'] === undefined ? undefined : intOption(v, 'max-length', 512, 3);
  const threads = v.threads === undefined ? undefined : intOption(v, 'threads', 1);

  // First pass: which queries and documents the records name, so only those texts are kept.
  const needDocs = new Set<string>(), needQueries = new Set<string>();
  for await (const r of records(negatives)) {
    needQueries.add(r.qid);
    for (const d of docsOf(r)) needDocs.add(d);
  }
  const docs = new Map<string, string>(), queries = new Map<string, string>();
  for await (const d of readTexts(corpusPath, 'document')) if (needDocs.has(d.id)) docs.set(d.id, d.text);
  for await (const q of readTexts(queriesPath, 'query')) if (needQueries.has(q.id)) queries.set(q.id, q.text);
  const missingDoc = [...needDocs].find((d) => !docs.has(d));
  if (missingDoc !== undefined) throw new SpladeError(`${negatives}: document ${missingDoc} is not in ${corpusPath}`, ErrorCode.invalidArgument);
  const missingQuery = [...needQueries].find((q) => !queries.has(q));
  if (missingQuery !== undefined) throw new SpladeError(`${negatives}: query ${missingQuery} is not in ${queriesPath}`, ErrorCode.invalidArgument);

  const model = await CrossEncoder.load(modelPath, { threads });
  const progress = new Progress({ label: 'score', unit: 'queries' });
  // Records are scored in chunks of at least a few batches of pairs, then written in input order.
  const chunkPairs = Math.max(batchSize * 4, 256);
  await writeFileAtomic(out, (async function* () {
    let pending: Record_[] = [];
    let pairs = 0;
    const flush = async function* () {
      const lists = pending.map(docsOf);
      const input: [string, string][] = [];
      pending.forEach((r, i) => lists[i].forEach((d) => input.push([queries.get(r.qid)!, docs.get(d)!])));
      const logits = await model.score(input, { batchSize, maxLength });
      let k = 0;
      for (let i = 0; i < pending.length; i++) {
        const scores: Record<string, number> = {};
        for (const d of lists[i]) scores[d] = logits[k++];
        progress.tick();
        yield `${JSON.stringify({ ...pending[i], scores })}\n`;
      }
      pending = [];
      pairs = 0;
    };
    for await (const r of records(negatives)) {
      pending.push(r);
      pairs += docsOf(r).length;
      if (pairs >= chunkPairs) yield* flush();
    }
    if (pending.length) yield* flush();
  })());
  progress.finish();
  console.error(`wrote ${out}: ${progress.count} queries`);
  return 0;
}
