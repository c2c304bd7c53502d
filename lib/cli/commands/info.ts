import { parseArgs } from 'node:util';

import { info } from '../../info.js';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' } } });
  if (values.help) {
    console.log('usage: splade info [--json]\n\nPrints the CPU kernels chosen (SPLADE_CPU forces one), the thread count and CUDA.');
    return 0;
  }
  const i = info();
  if (values.json) console.log(JSON.stringify(i));
  else {
    console.log(`cpu kernels: ${i.cpu} (supported: ${i.supportedCpus.join(', ')})`);
    console.log(`threads:     ${i.threads}`);
    console.log(`cuda:        ${i.cuda ? `compiled in, ${i.cudaDevices} device(s)` : 'not compiled in'}`);
  }
  return 0;
}
