// Packs the package as npm would publish it, installs the tarball into a fresh temporary project
// (no compiler needed there: the prebuilt addon ships in prebuilds/), and imports and calls it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'splade-pack-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
}

describe('npm pack', () => {
  it('installs from the tarball into a consumer project and runs there', () => {
    npm(['pack', '--pack-destination', work], root);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    const listing = execFileSync('tar', ['-tzf', join(work, tarball!)], { encoding: 'utf8' });
    expect(listing).toContain('package/prebuilds/linux-x64/splade.node');
    expect(listing).toContain('package/dist/index.js');
    expect(listing).toContain('package/dist/index.d.ts');
    for (const f of ['index.html', 'app.js', 'style.css']) expect(listing).toContain(`package/web/${f}`); // splade serve's page
    expect(listing).not.toContain('package/test/');

    const consumer = join(work, 'consumer');
    execFileSync('mkdir', ['-p', consumer]);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, tarball!)], consumer);
    writeFileSync(
      join(consumer, 'main.mjs'),
      `import * as splade from 'splade';
       const names = ['SpladeModel', 'InvertedIndex', 'Bm25Index', 'evaluate', 'info'].filter((n) => n in splade);
       const index = splade.InvertedIndex.build([{ indices: Uint32Array.of(3, 7), values: Float32Array.of(1, 2) }], { docIds: ['a'] });
       const hit = index.search({ indices: Uint32Array.of(7), values: Float32Array.of(1) }, { k: 1 });
       console.log(JSON.stringify({ names, info: splade.info(), hit: hit.docIds }));`,
    );
    // SPLADE_ADDON unset: the consumer must find the addon inside its own node_modules.
    const env = { ...process.env };
    delete env.SPLADE_ADDON;
    const out = JSON.parse(execFileSync(process.execPath, ['main.mjs'], { cwd: consumer, encoding: 'utf8', env }));
    expect(out.info.supportedCpus).toContain('generic');
    expect(out.info.threads).toBeGreaterThanOrEqual(1);
    expect(out.hit).toEqual(['a']);
    // The CLI installed as a bin runs from the consumer too.
    const cliOut = execFileSync(join(consumer, 'node_modules', '.bin', 'splade'), ['info', '--json'], { cwd: consumer, encoding: 'utf8', env });
    expect(JSON.parse(cliOut).supportedCpus).toContain('generic');
    expect(out.names).toEqual(['SpladeModel', 'InvertedIndex', 'Bm25Index', 'evaluate', 'info']);
  });
});
