// The loader's answer when no addon loads: an Error with a code that says what to install or run for
// this platform (never a crash), whether the binary is missing or built for another architecture.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { loadHint } from '../lib/native.js';

const work = mkdtempSync(join(tmpdir(), 'splade-loader-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function packageWith(prebuilds: string[]): string {
  const dir = mkdtempSync(join(work, 'pkg-'));
  for (const p of prebuilds) {
    mkdirSync(join(dir, 'prebuilds', p), { recursive: true });
    writeFileSync(join(dir, 'prebuilds', p, 'splade.node'), '');
  }
  return dir;
}

describe('loadHint', () => {
  const shipped = packageWith(['linux-x64', 'linux-arm64']);
  it('names the shipped prebuilds and how to build on a platform without one', () => {
    const mac = loadHint(shipped, 'darwin', 'arm64');
    expect(mac).toMatch(/No prebuilt binary for darwin-arm64/);
    expect(mac).toMatch(/linux-arm64, linux-x64 only/);
    expect(mac).toMatch(/xcode-select --install/);
    expect(mac).toMatch(/brew install cmake/);
    expect(mac).toMatch(/npm rebuild splade/);
    expect(loadHint(shipped, 'linux', 'riscv64')).toMatch(/apt-get install g\+\+ cmake/);
  });
  it('says a shipped prebuild did not load, and how to get past it', () => {
    const hint = loadHint(shipped, 'linux', 'arm64');
    expect(hint).toMatch(/prebuilt binary for linux-arm64 did not load/);
    expect(hint).toMatch(/SPLADE_BUILD_FROM_SOURCE=1/);
  });
  it('works for a package with no prebuilds', () => {
    expect(loadHint(packageWith([]), 'linux', 'x64')).toMatch(/has no prebuilt binaries/);
  });
});

describe('loading a binary for another architecture', () => {
  it('throws ERR_SPLADE_NO_ADDON with the loader message instead of crashing', () => {
    // An ELF shared object for aarch64 (machine 0xb7) that this x64 process cannot load, or for x86-64
    // when the test runs on arm64: dlopen refuses it and the loader must say so.
    const foreign = join(work, 'foreign.node');
    const header = Buffer.alloc(64);
    header.writeUInt32BE(0x7f454c46, 0);
    header.writeUInt8(2, 4), header.writeUInt8(1, 5), header.writeUInt8(1, 6), header.writeUInt16LE(3, 16);
    header.writeUInt16LE(process.arch === 'arm64' ? 0x3e : 0xb7, 18);
    writeFileSync(foreign, header);
    const script = `import('${resolve(import.meta.dirname, '../lib/index.ts')}').then((s) => {
      try { s.info(); console.log('loaded'); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }
    });`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
      encoding: 'utf8', env: { ...process.env, SPLADE_ADDON: foreign }, cwd: resolve(import.meta.dirname, '..'),
    });
    const err = JSON.parse(out);
    expect(err.code).toBe('ERR_SPLADE_NO_ADDON');
    expect(err.message).toMatch(/could not be loaded/);
    expect(err.message).toContain(foreign);
    expect(err.message).toMatch(/npm rebuild splade|Reinstall/);
  });
});
