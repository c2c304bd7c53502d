// Prints one group of sources for binding.gyp (node-gyp has no globbing of its own): `core` (the CPU
// core, no N-API), `binding` (the product addon's glue) or `check` (the test-only kernel-check addon).
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..');
const groups = {
  core: ['native/common', 'native/cpu', 'native/index', 'native/model'],
  binding: ['native/binding'],
  check: ['native/check', 'native/binding/napi_util.cpp', 'native/binding/addon.cpp'],
};
const out = [];
for (const entry of groups[process.argv[2]]) {
  const abs = path.join(root, entry);
  if (entry.endsWith('.cpp')) out.push(entry);
  else if (fs.existsSync(abs)) for (const f of fs.readdirSync(abs).sort()) if (f.endsWith('.cpp')) out.push(`${entry}/${f}`);
}
console.log(out.join(' '));
