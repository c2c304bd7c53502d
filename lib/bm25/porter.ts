/*
 * The Porter stemmer, as published: M.F. Porter, "An algorithm for suffix stripping", Program 14(3),
 * 1980, pp. 130-137. Written from the paper's rules, steps 1a-5b.
 *
 * Input: a lower-case word. Words of one or two letters are returned unchanged (as in Porter's own
 * implementations). Within each step only the rule with the longest matching suffix is considered;
 * if its condition fails, the step does nothing.
 *
 * Paper vs. Porter's later reference C code ("departures" listed on tartarus.org): this follows
 * the paper, i.e. step 2 has ABLI -> ABLE (the C code has BLI -> BLE) and no LOGI -> LOG rule. The two
 * agree on every word that does not end in -bli/-logi at step 2.
 */

function isConsonant(w: string, i: number): boolean {
  const c = w.charCodeAt(i);
  // a e i o u
  if (c === 97 || c === 101 || c === 105 || c === 111 || c === 117) return false;
  if (c === 121) return i === 0 ? true : !isConsonant(w, i - 1); // y: a vowel after a consonant
  return true;
}

/** m in [C](VC)^m[V] for w[0, end). */
function measure(w: string, end: number): number {
  let m = 0;
  let i = 0;
  while (i < end && isConsonant(w, i)) i++;
  while (i < end) {
    while (i < end && !isConsonant(w, i)) i++; // V
    if (i >= end) break;
    while (i < end && isConsonant(w, i)) i++; // C
    m++;
  }
  return m;
}

function hasVowel(w: string, end: number): boolean {
  for (let i = 0; i < end; i++) if (!isConsonant(w, i)) return true;
  return false;
}

/** *d: w[0, end) ends with a double consonant. */
function endsDoubleConsonant(w: string, end: number): boolean {
  return end >= 2 && w[end - 1] === w[end - 2] && isConsonant(w, end - 1);
}

/** *o: w[0, end) ends consonant-vowel-consonant, the last consonant not w, x or y. */
function endsCvc(w: string, end: number): boolean {
  if (end < 3) return false;
  if (!isConsonant(w, end - 3) || isConsonant(w, end - 2) || !isConsonant(w, end - 1)) return false;
  const c = w[end - 1];
  return c !== 'w' && c !== 'x' && c !== 'y';
}

type Rule = [suffix: string, replacement: string];

/** Longest-suffix rule of a step; applies it when cond(stemEnd) holds. Rules sorted longest first. */
function applyRules(w: string, rules: readonly Rule[], cond: (w: string, stemEnd: number, suffix: string) => boolean): string {
  for (const [suffix, rep] of rules) {
    if (w.length > suffix.length && w.endsWith(suffix)) {
      const stemEnd = w.length - suffix.length;
      return cond(w, stemEnd, suffix) ? w.slice(0, stemEnd) + rep : w;
    }
  }
  return w;
}

const byLength = (rules: Rule[]): Rule[] => rules.sort((a, b) => b[0].length - a[0].length);

const STEP2 = byLength([
  ['ational', 'ate'], ['tional', 'tion'], ['enci', 'ence'], ['anci', 'ance'], ['izer', 'ize'],
  ['abli', 'able'], ['alli', 'al'], ['entli', 'ent'], ['eli', 'e'], ['ousli', 'ous'],
  ['ization', 'ize'], ['ation', 'ate'], ['ator', 'ate'], ['alism', 'al'], ['iveness', 'ive'],
  ['fulness', 'ful'], ['ousness', 'ous'], ['aliti', 'al'], ['iviti', 'ive'], ['biliti', 'ble'],
]);
const STEP3 = byLength([
  ['icate', 'ic'], ['ative', ''], ['alize', 'al'], ['iciti', 'ic'], ['ical', 'ic'], ['ful', ''], ['ness', ''],
]);
const STEP4 = byLength(
  ['al', 'ance', 'ence', 'er', 'ic', 'able', 'ible', 'ant', 'ement', 'ment', 'ent', 'ion', 'ou', 'ism',
    'ate', 'iti', 'ous', 'ive', 'ize'].map((s): Rule => [s, '']),
);

function step1a(w: string): string {
  if (w.endsWith('sses')) return w.slice(0, -2);
  if (w.endsWith('ies')) return w.slice(0, -2);
  if (w.endsWith('ss')) return w;
  if (w.endsWith('s')) return w.slice(0, -1);
  return w;
}

function step1b(w: string): string {
  if (w.endsWith('eed')) return measure(w, w.length - 3) > 0 ? w.slice(0, -1) : w;
  let stem: string;
  if (w.endsWith('ed') && hasVowel(w, w.length - 2)) stem = w.slice(0, -2);
  else if (w.endsWith('ing') && hasVowel(w, w.length - 3)) stem = w.slice(0, -3);
  else return w;
  if (stem.endsWith('at') || stem.endsWith('bl') || stem.endsWith('iz')) return stem + 'e';
  const n = stem.length;
  if (endsDoubleConsonant(stem, n)) {
    const c = stem[n - 1];
    return c === 'l' || c === 's' || c === 'z' ? stem : stem.slice(0, -1);
  }
  if (measure(stem, n) === 1 && endsCvc(stem, n)) return stem + 'e';
  return stem;
}

function step1c(w: string): string {
  return w.endsWith('y') && hasVowel(w, w.length - 1) ? w.slice(0, -1) + 'i' : w;
}

function step5(w: string): string {
  if (w.endsWith('e')) {
    const m = measure(w, w.length - 1);
    if (m > 1 || (m === 1 && !endsCvc(w, w.length - 1))) w = w.slice(0, -1);
  }
  if (w.endsWith('ll') && measure(w, w.length) > 1) w = w.slice(0, -1);
  return w;
}

/** Porter (1980) stem of a lower-case word. */
export function porterStem(word: string): string {
  if (word.length <= 2) return word;
  let w = step1a(word);
  w = step1b(w);
  w = step1c(w);
  w = applyRules(w, STEP2, (s, end) => measure(s, end) > 0);
  w = applyRules(w, STEP3, (s, end) => measure(s, end) > 0);
  w = applyRules(w, STEP4, (s, end, suffix) =>
    measure(s, end) > 1 && (suffix !== 'ion' || s[end - 1] === 's' || s[end - 1] === 't'));
  return step5(w);
}
