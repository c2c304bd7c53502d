// prepack: put the locally built addon into prebuilds/<platform>-<arch>/ so the npm tarball works
// on machines without a compiler.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'build', 'Release', 'splade.node');
if (!existsSync(built)) {
  console.error(`splade: ${built} is missing; run \`npm run build:native\` before packing`);
  process.exit(1);
}
const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
copyFileSync(built, join(dir, 'splade.node'));
console.log(`splade: copied the addon to ${dir}`);
