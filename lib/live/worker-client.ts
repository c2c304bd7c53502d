// A worker thread running segment-worker.ts, one task at a time in order, each a Promise. Installed,
// the package runs the compiled .js; from source (tests, tsx) the .ts runs under tsx's loader.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { ErrorCode, SpladeError } from '../errors.js';
import type { WorkerReply, WorkerTask } from './segment-worker.js';

type Done = { docs: number; postings: number };

// A small young generation: a flush or merge makes garbage fast (a chunk, an id-table block at a
// time), and V8's default lets each worker's heap grow by tens of MiB before it collects.
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4 };

export class SegmentWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (d: Done) => void; reject: (e: Error) => void }>();

  run(task: WorkerTask, transfer: ArrayBuffer[] = []): Promise<Done> {
    const w = this.start();
    const id = this.nextId++;
    return new Promise<Done>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ id, task }, transfer);
    });
  }

  async terminate(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const here = import.meta.url;
    const w = here.endsWith('.ts') ? tsWorker(new URL('./segment-worker.ts', here).href) : new Worker(new URL('./segment-worker.js', here), { resourceLimits: WORKER_LIMITS });
    w.on('message', (r: WorkerReply) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      if (this.pending.size === 0) w.unref();  // an idle worker never keeps the process alive
      if (!p) return;
      if (r.ok) p.resolve(r);
      else p.reject(new SpladeError(r.message, r.code ?? ErrorCode.internal));
    });
    const failAll = (err: Error) => {
      for (const p of this.pending.values()) p.reject(new SpladeError(`segment worker failed: ${err.message}`, ErrorCode.internal, { cause: err }));
      this.pending.clear();
      if (this.worker === w) this.worker = undefined;
    };
    w.on('error', failAll);
    w.on('exit', (code) => failAll(new Error(`exited with code ${code}`)));
    w.unref();
    this.worker = w;
    return w;
  }
}

/** From source: registers tsx's loader in the worker (a devDependency), then imports the module. */
function tsWorker(url: string): Worker {
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(url)}); })`, { eval: true, resourceLimits: WORKER_LIMITS });
}
