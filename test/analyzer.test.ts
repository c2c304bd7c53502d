import { describe, expect, it } from 'vitest';

import { ENGLISH_STOP_WORDS, porterStem, wordAnalyzer } from '../lib/index.js';

// Porter (1980): the examples printed in the paper (final stems after all steps), and common words.
const PAIRS: [string, string][] = [
  // step 1a
  ['caresses', 'caress'], ['ponies', 'poni'], ['ties', 'ti'], ['caress', 'caress'], ['cats', 'cat'],
  // step 1b
  ['feed', 'feed'], ['agreed', 'agre'], ['plastered', 'plaster'], ['bled', 'bled'], ['motoring', 'motor'],
  ['sing', 'sing'], ['conflated', 'conflat'], ['troubled', 'troubl'], ['sized', 'size'], ['hopping', 'hop'],
  ['tanned', 'tan'], ['falling', 'fall'], ['hissing', 'hiss'], ['fizzed', 'fizz'], ['failing', 'fail'],
  ['filing', 'file'],
  // step 1c
  ['happy', 'happi'], ['sky', 'sky'],
  // steps 2-5, run to the end
  ['relational', 'relat'], ['conditional', 'condit'], ['rational', 'ration'], ['valenci', 'valenc'],
  ['digitizer', 'digit'], ['vietnamization', 'vietnam'], ['operator', 'oper'], ['feudalism', 'feudal'],
  ['decisiveness', 'decis'], ['hopefulness', 'hope'], ['callousness', 'callous'], ['formaliti', 'formal'],
  ['sensitiviti', 'sensit'], ['triplicate', 'triplic'], ['formative', 'form'], ['formalize', 'formal'],
  ['electriciti', 'electr'], ['electrical', 'electr'], ['hopeful', 'hope'], ['goodness', 'good'],
  ['revival', 'reviv'], ['allowance', 'allow'], ['inference', 'infer'], ['airliner', 'airlin'],
  ['gyroscopic', 'gyroscop'], ['adjustable', 'adjust'], ['defensible', 'defens'], ['irritant', 'irrit'],
  ['replacement', 'replac'], ['adjustment', 'adjust'], ['dependent', 'depend'], ['adoption', 'adopt'],
  ['homologou', 'homolog'], ['communism', 'commun'], ['activate', 'activ'], ['angulariti', 'angular'],
  ['homologous', 'homolog'], ['effective', 'effect'], ['bowdlerize', 'bowdler'], ['probate', 'probat'],
  ['rate', 'rate'], ['cease', 'ceas'], ['controll', 'control'], ['roll', 'roll'],
  ['generalizations', 'gener'], ['oscillators', 'oscil'],
  ['connect', 'connect'], ['connected', 'connect'], ['connecting', 'connect'], ['connection', 'connect'],
  ['connections', 'connect'],
  // two letters or fewer: unchanged
  ['is', 'is'], ['as', 'as'], ['a', 'a'],
];

describe('porterStem', () => {
  it.each(PAIRS)('%s -> %s', (word, stem) => {
    expect(porterStem(word)).toBe(stem);
  });
});

describe('wordAnalyzer', () => {
  it('lower-cases, splits on non-alphanumerics, drops stop words and single characters', () => {
    const a = wordAnalyzer();
    expect(a('The Wing-Body interference, at Mach 1.5 (see Fig. 3) is: NOT small; o\'Brien_x'))
      .toEqual(['wing', 'body', 'interference', 'mach', 'see', 'fig', 'small', 'brien']);
    expect(a('Ünïcödé Straße 北京')).toEqual(['ünïcödé', 'straße', '北京']);
    expect(a('')).toEqual([]);
  });

  it('has options for stop words, minimum length and stemming', () => {
    expect(wordAnalyzer({ stopwords: false, minLength: 1 })('the 3 wings')).toEqual(['the', '3', 'wings']);
    expect(wordAnalyzer({ stopwords: ['wings'] })('the wings')).toEqual(['the']);
    expect(wordAnalyzer({ stem: true })('The connections of flying wings')).toEqual(['connect', 'fly', 'wing']);
    expect(() => wordAnalyzer({ minLength: 0 })).toThrow(/Expected a positive integer for minLength/);
  });

  it("uses Lucene's 33-word English stop set", () => {
    expect(ENGLISH_STOP_WORDS.size).toBe(33);
    for (const w of ['a', 'the', 'such', 'will', 'with', 'their']) expect(ENGLISH_STOP_WORDS.has(w)).toBe(true);
    for (const w of ['what', 'have', 'from', 'were']) expect(ENGLISH_STOP_WORDS.has(w)).toBe(false);
  });
});
