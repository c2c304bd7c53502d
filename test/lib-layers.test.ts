// The library sits below the CLI: no module of lib/ outside lib/cli imports from lib/cli (the CLI
// is a thin shell over library functions, never the other way round).
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = join(import.meta.dirname, '..', 'lib');
const CLI = join(LIB, 'cli');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative module specifiers of static imports, re-exports and dynamic import() calls. */
function specifiers(src: string): string[] {
  return [...src.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.[^'"]+)['"]/g)].map((m) => m[1]);
}

function importsOfCli(file: string): string[] {
  return specifiers(readFileSync(file, 'utf8')).filter((s) => {
    const target = resolve(dirname(file), s);
    return target === CLI || target.startsWith(CLI + sep);
  });
}

describe('lib/ layering', () => {
  it('finds the imports it looks for', () => {
    // the scanner itself: the CLI's entry imports its commands' table, so a scan of lib/cli must see that
    expect(importsOfCli(join(CLI, 'main.ts')).length).toBeGreaterThan(0);
    expect(specifiers("import x from './a.js';\nexport { y } from '../cli/b.js';\nawait import('../cli/c.js');")).toEqual(['./a.js', '../cli/b.js', '../cli/c.js']);
  });

  it('no module outside lib/cli imports lib/cli', () => {
    const offenders = tsFiles(LIB)
      .filter((f) => !f.startsWith(CLI + sep))
      .flatMap((f) => importsOfCli(f).map((s) => `${relative(LIB, f)} imports ${s}`));
    expect(offenders).toEqual([]);
  });
});
