// Child process of test/reliability.test.ts: starts a worker thread that keeps a native async call in
// flight (an index searchBatch or a model encode), terminates the worker while the call runs, and does
// that ROUNDS times. Before the fix a PromiseWorker completing in a torn-down environment threw
// Napi::Error out of its completion callback and the whole process aborted (SIGABRT).
//   node --import tsx test/helpers/terminate-in-flight.ts search|encode ROUNDS
// Prints `ok ROUNDS` and exits 0 when the process survived every round.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { InvertedIndex } from '../../lib/search/inverted-index.js';
import { SpladeModel } from '../../lib/model/splade-model.js';
import type { SparseVector } from '../../lib/sparse.js';

const MODEL = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'models', 'bert');

async function busyWorker(kind: string): Promise<void> {
  if (kind === 'search') {
    const docs: SparseVector[] = Array.from({ length: 3000 }, (_, d) => {
      const terms = [...new Set(Array.from({ length: 40 }, (_, k) => (d * 7 + k * 131) % 5000))].sort((a, b) => a - b);
      return { indices: Uint32Array.from(terms), values: Float32Array.from(terms, (_, k) => 1 + k) };
    });
    const index = InvertedIndex.build(docs, { docIds: docs.map((_, i) => `d${i}`) });
    const queries = docs.slice(0, 400);
    for (;;) {
      const p = index.searchBatch(queries, { k: 10, algorithm: 'exhaustive', threads: 1 });
      parentPort!.postMessage('busy');
      await p;
    }
  } else {
    const model = await SpladeModel.load(MODEL);
    const texts = Array.from({ length: 16 }, (_, i) => Array.from({ length: 100 }, (_, k) => ['the', 'cat', 'sat', 'on', 'a', 'mat'][(i + k) % 6]).join(' '));
    for (;;) {
      const p = model.encode(texts);
      parentPort!.postMessage('busy');
      await p;
    }
  }
}

if (!isMainThread) {
  await busyWorker(workerData as string);
} else {
  const [kind, roundsArg] = process.argv.slice(2);
  const rounds = Number(roundsArg);
  for (let r = 0; r < rounds; r++) {
    // tsx's loader does not reach worker threads by itself: the worker registers it, then loads this file.
    const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const w = new Worker(boot, { eval: true, workerData: kind });
    w.on('error', (err) => {
      console.error(`worker error: ${err}`);
      process.exit(2);
    });
    // Terminate after the first or a later call has started, at a varying point of the call.
    const after = 1 + (r % 3);
    await new Promise<void>((resolve) => {
      let seen = 0;
      w.on('message', () => {
        if (++seen === after) setTimeout(resolve, r % 4);
      });
    });
    await w.terminate();
  }
  console.log(`ok ${rounds}`);
}
