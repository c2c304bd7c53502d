/*
 * Several SPLADE models over one vocabulary served as one model: a text's vector is the sum of the
 * models' vectors, so an ensemble needs one index and one search instead of one per model plus a
 * fusion. The leave-one-out benchmark's zero-shot ensembles score within 0.002 nDCG@10 of fusing
 * the models' max-normalised runs this way (run 8: `git show 15f82a6:bench/RESULTS.md`).
 */
import { ErrorCode, SpladeError, invalidArgument } from '../errors.js';
import { sumVectors, type SparseVector } from '../sparse.js';
import { SpladeModel, type EncodeOptions, type LoadOptions } from './splade-model.js';

/** What the pipeline needs of an encoder: SpladeModel and SpladeEnsemble both are one. */
export type SparseEncoder = Pick<SpladeModel, 'encode' | 'tokenize' | 'vocabulary' | 'vocabSize'>;

/** A model, or with comma-separated directories ("a,b,c") the ensemble of those models. */
export async function loadSparseEncoder(spec: string, opts: LoadOptions = {}): Promise<SparseEncoder> {
  if (typeof spec !== 'string' || spec === '') invalidArgument('model', 'a model directory or hub id, or several joined by commas', spec);
  const dirs = spec.split(',').map((d) => d.trim());
  if (dirs.some((d) => d === '')) invalidArgument('model', 'comma-separated model directories with none empty', spec);
  return dirs.length === 1 ? SpladeModel.load(dirs[0], opts) : SpladeEnsemble.load(dirs, opts);
}

export class SpladeEnsemble implements SparseEncoder {
  private constructor(readonly models: SpladeModel[]) {}

  /** Loads every model (local directories or hub ids, as SpladeModel.load); they must share one vocabulary. */
  static async load(dirs: string[], opts: LoadOptions = {}): Promise<SpladeEnsemble> {
    if (!Array.isArray(dirs) || dirs.length === 0) invalidArgument('dirs', 'a non-empty array of model directories', dirs);
    const models: SpladeModel[] = [];
    for (const d of dirs) models.push(await SpladeModel.load(d, opts));
    const vocab = models[0].vocabulary();
    models.forEach((m, i) => {
      const v = i === 0 ? vocab : m.vocabulary();
      if (v.length !== vocab.length || v.some((t, j) => t !== vocab[j])) {
        throw new SpladeError(`${dirs[i]}: its vocabulary differs from ${dirs[0]}'s; an ensemble adds vectors term by term, so every model needs the same vocabulary`, ErrorCode.invalidArgument);
      }
    });
    return new SpladeEnsemble(models);
  }

  get vocabSize(): number {
    return this.models[0].vocabSize;
  }

  /** Disposes every model (SpladeModel.dispose): native memory freed now, later calls throw. */
  dispose(): void {
    for (const m of this.models) m.dispose();
  }
  [Symbol.dispose](): void { this.dispose(); }

  vocabulary(): string[] {
    return this.models[0].vocabulary();
  }

  /** Token ids as the first model sees them (the models share a vocabulary; their lengths may differ). */
  tokenize(text: string, opts: { kind?: 'query' | 'document'; maxLength?: number } = {}): Int32Array {
    return this.models[0].tokenize(text, opts);
  }

  /** The sum of the models' vectors; threshold and topK apply to the sum. */
  async encode(texts: string[], opts: EncodeOptions = {}): Promise<SparseVector[]> {
    if (!Array.isArray(texts)) invalidArgument('texts', 'an array of strings', texts);
    await this.models[0].encode([], opts); // the options checked as SpladeModel checks them, before any work
    const { topK, threshold, ...each } = opts ?? {};
    const parts: SparseVector[][] = texts.map(() => []);
    for (const m of this.models) {
      // every model's full vector (its own checks of the texts apply); the cut is made on the sum
      (await m.encode(texts, { ...each, threshold: 0 })).forEach((v, i) => parts[i].push(v));
    }
    return parts.map((p) => cut(sumVectors(p), threshold ?? 0, topK));
  }
}

/** The weights above threshold and 0, the topK largest if given (SpladeModel's cut, on a sparse vector). */
function cut({ indices, values }: SparseVector, threshold: number, topK: number | undefined): SparseVector {
  let keep = [...indices.keys()].filter((j) => values[j] > threshold && values[j] > 0);
  if (topK !== undefined && keep.length > topK) {
    keep = keep.sort((a, b) => values[b] - values[a] || indices[a] - indices[b]).slice(0, topK).sort((a, b) => a - b);
  }
  return { indices: Uint32Array.from(keep, (j) => indices[j]), values: Float32Array.from(keep, (j) => values[j]) };
}
