// prepack: put the built addons into prebuilds/<platform>-<arch>/ so the npm tarball works on machines
// without a compiler: this machine's build (build/Release), and the linux-arm64 cross build when one
// exists (build-arm64/cmake, made by `.ci/arm64` with Debian's aarch64 g++). Each binary's ELF header
// is checked against the directory it goes to, so a tarball never ships one under the wrong name.
// SPLADE_PREBUILDS=linux-x64,linux-arm64 makes a missing one an error (release packing).
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const host = `${process.platform}-${process.arch}`;
const sources = { [host]: join(root, 'build', 'Release', 'splade.node') };
if (host !== 'linux-arm64') sources['linux-arm64'] = join(root, 'build-arm64', 'cmake', 'splade.node');

// ELF e_machine of each Linux target (other platforms' binaries are not ELF and are not checked).
const ELF_MACHINE = { 'linux-x64': 0x3e, 'linux-arm64': 0xb7 };
function elfMachine(path) {
  const b = readFileSync(path).subarray(0, 20);
  return b.length === 20 && b.readUInt32BE(0) === 0x7f454c46 ? b.readUInt16LE(18) : undefined;
}

const required = (process.env.SPLADE_PREBUILDS ?? host).split(',').filter(Boolean);
rmSync(join(root, 'prebuilds'), { recursive: true, force: true });  // nothing stale from an earlier pack
for (const [target, built] of Object.entries(sources)) {
  if (!existsSync(built)) {
    if (!required.includes(target)) continue;
    const how = target === host ? 'run `npm run build:native`' : 'run `.ci/arm64 ctest node` (cross build)';
    console.error(`splade: ${built} is missing; ${how} before packing`);
    process.exit(1);
  }
  const want = ELF_MACHINE[target];
  if (want !== undefined && elfMachine(built) !== want) {
    console.error(`splade: ${built} is not a ${target} binary (ELF machine ${elfMachine(built)}); rebuild it`);
    process.exit(1);
  }
  const dir = join(root, 'prebuilds', target);
  mkdirSync(dir, { recursive: true });
  copyFileSync(built, join(dir, 'splade.node'));
  console.log(`splade: copied ${built} to ${dir}`);
}
