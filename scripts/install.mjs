// npm install hook: use the prebuilt addon shipped in prebuilds/<platform>-<arch> (linux-x64,
// linux-arm64) when it loads on this machine, otherwise build from source with cmake-js (CMake; how
// macOS installs), falling back to node-gyp when CMake is missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'splade.node');

if (existsSync(prebuilt) && !process.env.SPLADE_BUILD_FROM_SOURCE) {
  try {
    require(prebuilt);
    console.log(`splade: using the prebuilt addon ${prebuilt}`);
    process.exit(0);
  } catch (err) {
    console.log(`splade: the prebuilt addon does not load here (${err.message}); building from source`);
  }
}

function run(cmd, args) {
  console.log(`splade: ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
}

const hasCmake = spawnSync('cmake', ['--version'], { stdio: 'ignore' }).status === 0;
try {
  if (hasCmake) {
    run(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'compile', '--out', 'build']);
  } else {
    console.log('splade: CMake not found; building the CPU core with node-gyp');
    const gyp = process.env.npm_config_node_gyp;
    if (!gyp) throw new Error('node-gyp not found');
    run(process.execPath, [gyp, 'rebuild']);
  }
} catch {
  const tools =
    process.platform === 'darwin'
      ? "Xcode's command line tools and CMake (xcode-select --install; brew install cmake)"
      : 'a C++17 compiler and CMake (Debian/Ubuntu: apt-get install g++ cmake)';
  console.error(`splade: no prebuilt addon for ${process.platform}-${process.arch} loads here and building it failed. Install ${tools}, then run \`npm rebuild splade\`.`);
  process.exit(1);
}
