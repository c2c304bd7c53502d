import { SpladeError } from '../../errors.js';
import { readFileSync } from 'node:fs';

import { readVectors } from '../../data/vectors.js';
import { writeAnseriniCollection } from '../../export/anserini.js';
import { writeCiff } from '../../export/ciff.js';
import { mapping, writeOpenSearchBulk } from '../../export/opensearch.js';
import { SpladeModel } from '../../model/splade-model.js';
import { parse, required } from '../args.js';

const HELP = `usage: splade export --vectors VECTORS.jsonl --format ciff|anserini|opensearch --out FILE
                     (--vocab vocab.txt | --model DIR) [--index-name NAME] [--field splade]

Writes document vectors for the engines people run at scale:
  ciff        Common Index File Format (PISA, Anserini, Terrier, BMP), impacts quantized to 8 bits
  anserini    Anserini JsonVectorCollection (integer weights = round(100 w))
  opensearch  OpenSearch / Elasticsearch bulk NDJSON for a rank_features field; prints the mapping
The vocabulary (term id -> token) comes from a vocab.txt or from the model's tokenizer.`;

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
  let n: number;
  switch (format) {
    case 'ciff':
      n = (await writeCiff(docs, vocab, out)).header.numDocs;
      break;
    case 'anserini':
      n = (await writeAnseriniCollection(docs, vocab, out)).documents;
      break;
    case 'opensearch': {
      const name = (v['index-name'] as string) ?? 'splade';
      const field = (v.field as string) ?? 'splade';
      n = (await writeOpenSearchBulk(docs, vocab, out, { index: name, field })).documents;
      console.log(JSON.stringify(mapping(name, field), null, 2));
      break;
    }
    default:
      throw new SpladeError(`--format must be ciff, anserini or opensearch, got ${format}`);
  }
  console.error(`wrote ${out}: ${n} documents (${format})`);
  return 0;
}
