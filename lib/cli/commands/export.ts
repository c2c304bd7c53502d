import { SpladeError } from '../../errors.js';
import { readFileSync } from 'node:fs';

import { readVectors } from '../../data/vectors.js';
import { EXPORTERS } from '../../export/index.js';
import { SpladeModel } from '../../model/splade-model.js';
import { parse, required } from '../args.js';

const HELP = `usage: splade export --vectors VECTORS.jsonl --format ${EXPORTERS.map((e) => e.name).join('|')} --out FILE
                     (--vocab vocab.txt | --model DIR) [--index-name NAME] [--field splade]

Writes document vectors for the engines people run at scale:
${EXPORTERS.map((e) => `  ${e.name.padEnd(13)} ${e.description}`).join('\n')}
The vocabulary (term id -> token) comes from a vocab.txt or from the model's tokenizer.
  --index-name NAME   OpenSearch/Elasticsearch index, Milvus collection or pgvector table (default splade)
  --field NAME        the vector's field, Qdrant vector name or pgvector column (default splade)`;

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, {
    vectors: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' }, vocab: { type: 'string' }, model: { type: 'string' },
    'index-name': { type: 'string' }, field: { type: 'string' },
  }, HELP);
  if (!v) return 0;
  const vocab = v.vocab
    ? readFileSync(v.vocab as string, 'utf8').split('\n').filter((line, i, all) => line !== '' || i < all.length - 1)
    : (await SpladeModel.load(required(v, 'model'))).vocabulary();
  const docs = readVectors(required(v, 'vectors'));
  const out = required(v, 'out');
  const format = required(v, 'format');
  const exporter = EXPORTERS.find((e) => e.name === format);
  if (!exporter) throw new SpladeError(`--format must be ${EXPORTERS.map((e) => e.name).join(', ')}, got ${format}`);
  const { documents: n, print, warnings } = await exporter.write(docs, vocab, out, { indexName: v['index-name'] as string | undefined, field: v.field as string | undefined });
  if (print !== undefined) console.log(print);
  for (const w of warnings ?? []) console.error(`warning: ${w}`);
  console.error(`wrote ${out}: ${n} documents (${format})`);
  return 0;
}
