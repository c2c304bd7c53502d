import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { ErrorCode, SpladeError } from '../../errors.js';
import { readRecipe } from '../../recipe/recipe.js';
import { runRecipe } from '../../recipe/runner.js';
import { Progress } from '../../progress.js';

const HELP = `usage: splade recipe NAME|FILE.json [--workdir DIR] [--set PARAM=VALUE ...] [--only STAGE,...]
       splade recipe --list
       splade recipe NAME|FILE.json --show

Runs a training recipe: its stages (init, mlm, pseudo-queries, mine, score, train, index, evaluate)
in order, in a work directory (default ./recipe-runs/NAME). A stage whose output exists is kept, and
a train stage continues from its checkpoint, so an interrupted recipe resumes. NAME is one of the
shipped recipes (--list); paths in a recipe resolve against the work directory.

options:
  --workdir DIR        where the stages write (default ./recipe-runs/NAME)
  --set PARAM=VALUE    override a recipe param (repeatable), e.g. --set data=./my-collection
  --only A,B           run only these stages (earlier outputs must exist)
  --list               the shipped recipes and their descriptions
  --show               print the recipe with its params substituted, and exit`;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const RECIPES_DIR = join(root, 'recipes');

/** A shipped recipe's name, or a path to a recipe file. */
export function recipePath(ref: string): string {
  if (existsSync(ref) && ref.endsWith('.json')) return resolve(ref);
  const shipped = join(RECIPES_DIR, `${ref}.json`);
  if (existsSync(shipped)) return shipped;
  throw new SpladeError(`no recipe '${ref}' (neither a file nor one of: ${shippedRecipes().join(', ')})`, ErrorCode.invalidArgument);
}

export function shippedRecipes(): string[] {
  return existsSync(RECIPES_DIR) ? readdirSync(RECIPES_DIR).filter((f) => f.endsWith('.json')).map((f) => basename(f, '.json')).sort() : [];
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { workdir: { type: 'string' }, set: { type: 'string', multiple: true }, only: { type: 'string' }, list: { type: 'boolean' }, show: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.list) {
    for (const name of shippedRecipes()) console.log(`${name.padEnd(28)} ${readRecipe(join(RECIPES_DIR, `${name}.json`)).description}`);
    return 0;
  }
  if (positionals.length !== 1) throw new SpladeError('give one recipe name or file (see --help)', ErrorCode.invalidArgument);
  const overrides: Record<string, string> = {};
  for (const kv of values.set ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new SpladeError(`--set expects PARAM=VALUE, got ${kv}`, ErrorCode.invalidArgument);
    const v = kv.slice(eq + 1);
    // a value naming an existing path (relative to where the command runs) becomes absolute
    overrides[kv.slice(0, eq)] = existsSync(v) ? resolve(v) : v;
  }
  const recipe = readRecipe(recipePath(positionals[0]), overrides);
  if (values.show) {
    console.log(JSON.stringify({ name: recipe.name, description: recipe.description, params: recipe.params, stages: recipe.stages }, null, 2));
    return 0;
  }
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of only ?? []) {
    if (!recipe.stages.some((s) => s.name === name)) throw new SpladeError(`--only: the recipe has no stage '${name}' (stages: ${recipe.stages.map((s) => s.name).join(', ')})`, ErrorCode.invalidArgument);
  }
  const workdir = resolve(values.workdir ?? join('recipe-runs', recipe.name));
  await runRecipe(recipe, { workdir, only, progress: (task) => new Progress(task) });
  console.error(`recipe ${recipe.name}: done in ${workdir}`);
  return 0;
}
