// The tokenizer against ids from an independent WordPiece (test/fixtures/make_fixtures.py, written
// from vocab.txt with BERT's BasicTokenizer rules), on bert-base-uncased's tokenizer.json.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { SpladeError } from '../lib/errors.js';
import { SpladeTokenizer } from '../lib/model/tokenizer.js';

const here = dirname(fileURLToPath(import.meta.url));
const BERT_BASE = process.env.SPLADE_BERT_BASE_DIR ?? '/work/shared/data/bert-base-uncased';
const fixture = JSON.parse(readFileSync(join(here, 'fixtures', 'tokenizer_ids.json'), 'utf8')) as {
  samples: { text: string; ids: number[] }[];
  truncated: { text: string; maxLength: number; ids: number[] }[];
};

describe.skipIf(!existsSync(join(BERT_BASE, 'tokenizer.json')))('bert-base-uncased tokenizer', () => {
  const tok = SpladeTokenizer.load(BERT_BASE);

  it('matches the reference WordPiece ids (lowercasing, accents, punctuation, CJK, unknown words)', () => {
    for (const { text, ids } of fixture.samples) {
      expect(Array.from(tok.encode(text, 512)), JSON.stringify(text)).toEqual(ids);
    }
  });

  it('truncates the text, never the special tokens', () => {
    for (const { text, maxLength, ids } of fixture.truncated) {
      const got = Array.from(tok.encode(text, maxLength));
      expect(got).toEqual(ids);
      expect(got.length).toBe(maxLength);
    }
  });

  it('encodes the empty string as [CLS] [SEP]', () => {
    expect(Array.from(tok.encode('', 256))).toEqual([101, 102]);
  });

  it('encodes pairs with token types and longest-first truncation', () => {
    const a = tok.encode('hello world', 512), b = tok.encode('the quick brown fox', 512);
    const pair = tok.encodePair('hello world', 'the quick brown fox', 512);
    expect(Array.from(pair.ids)).toEqual([...a, ...Array.from(b).slice(1)]);
    expect(Array.from(pair.typeIds)).toEqual([...new Array(a.length).fill(0), ...new Array(b.length - 1).fill(1)]);
    // 2 + 4 body tokens into a budget of 8 - 3 = 5: the shorter keeps min(2, floor(5 / 2)) = 2
    const cut = tok.encodePair('hello world', 'the quick brown fox', 8);
    expect(Array.from(cut.ids)).toEqual([101, 7592, 2088, 102, 1996, 4248, 2829, 102]);
    expect(Array.from(cut.typeIds)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(tok.idToToken(7592)).toBe('hello');
  });
});

describe('a damaged post_processor in tokenizer.json', () => {
  const good = JSON.parse(readFileSync(join(here, 'fixtures', 'models', 'bert', 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const loadWith = (postProcessor: unknown) => {
    const dir = mkdtempSync(join(tmpdir(), 'splade-tok-'));
    try {
      writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ ...good, post_processor: postProcessor }));
      return SpladeTokenizer.load(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const pp = good.post_processor as Record<string, unknown>;

  it('loads the undamaged one', () => {
    expect(Array.from(loadWith(pp).encode('', 8))).toEqual(Array.from(SpladeTokenizer.load(join(here, 'fixtures', 'models', 'bert')).encode('', 8)));
  });

  it('is a corrupt-file Error, never a TypeError, whatever part is damaged', () => {
    const damaged: unknown[] =
      pp.type === 'TemplateProcessing'
        ? [
            { ...pp, single: undefined },
            { ...pp, pair: 'x' },
            { ...pp, single: [null] },
            { ...pp, single: [{ Sequence: 'A' }] },
            { ...pp, single: [{ SpecialToken: { id: 'nope', type_id: 0 } }] },
            { ...pp, special_tokens: 5 },
            { ...pp, special_tokens: { '[CLS]': { ids: ['a'] }, '[SEP]': { ids: [102] } } },
            { ...pp, single: [{ Sequence: { id: 'A', type_id: -1 } }] },
          ]
        : [{ ...pp, cls: 5 }, { ...pp, sep: ['[SEP]'] }, { ...pp, cls: ['[CLS]', 'x'] }];
    for (const d of damaged) {
      let err: unknown;
      try {
        loadWith(d);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(d)).toBeInstanceOf(SpladeError);
      expect((err as SpladeError).code, JSON.stringify(d)).toBe('ERR_SPLADE_CORRUPT_FILE');
    }
  });
});
