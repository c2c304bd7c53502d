// Prints the CPU core and binding sources for binding.gyp (node-gyp has no globbing of its own).
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..');
const dirs = ['native/common', 'native/cpu', 'native/index', 'native/model', 'native/train', 'native/binding'];
const out = [];
for (const dir of dirs) {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) continue;
  for (const f of fs.readdirSync(abs).sort()) if (f.endsWith('.cpp')) out.push(`${dir}/${f}`);
}
console.log(out.join(' '));
