// `splade serve` under load: starts the server as a separate process (the CLI, as a user would),
// loads it with autocannon from this process (16 connections for 30 s, each request
// GET /search?q=<an NPL query>&k=10, cycling through the 93 queries), stops it with SIGTERM (it must
// exit 0), and checks the goals of issue 18: 0 errors, p99 <= 20 ms, >= 500 requests/s. Server and
// load generator share the machine (2 cores here), as they would on one box.
// The collection: NPL with BM25 word-piece document vectors and idf queries (npl-index.ts).
//
//   flock -x /tmp/bench.lock node --import tsx bench/serve/serve.bench.ts [--duration 30] [--connections 16]
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import autocannon from 'autocannon';

import { nplServeFiles } from './npl-index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: opts } = parseArgs({ options: {
  duration: { type: 'string', default: '30' }, connections: { type: 'string', default: '16' }, k: { type: 'string', default: '10' },
  data: { type: 'string', default: process.env.SPLADE_REAL_DATA ?? join(root, '..', 'shared', 'data') },
} });
const GOALS = { errors: 0, p99Ms: 20, requestsPerSecond: 500 };

const files = await nplServeFiles(opts.data!);
const queries = readFileSync(files.queries, 'utf8').split('\n').filter((l) => l.trim()).map((l) => (JSON.parse(l) as { text: string }).text);
const paths = queries.map((q) => `/search?q=${encodeURIComponent(q)}&k=${opts.k}`);

const args = ['serve', '--index', files.index, '--model', files.model, '--query-weights', 'idf', '--corpus', files.corpus,
  '--vectors', files.vectors, '--port', '0'];
console.log(`server: splade ${args.join(' ')}`);
const server = spawn(process.execPath, ['--import', 'tsx', join(root, 'lib', 'cli', 'main.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await listening(server);

// a short warm-up (JIT, the mapped index's pages), not measured
await autocannon({ url, connections: 4, duration: 2, requests: cycle(paths) });
const cpu0 = cpuSeconds(server.pid!);
const r = await autocannon({ url, connections: Number(opts.connections), duration: Number(opts.duration), timeout: 10, requests: cycle(paths) });

const serverCpu = cpuSeconds(server.pid!) - cpu0;
const exited = new Promise<number | null>((res) => server.on('exit', (code) => res(code)));
server.kill('SIGTERM');
const exitCode = await exited;

const errors = r.errors + r.timeouts + r.non2xx;
const rps = r['2xx'] / r.duration;
const cpu = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores`;
console.log(`\nsplade serve, NPL (${queries.length} queries cycled), ${r.connections} connections, ${r.duration.toFixed(1)} s, k ${opts.k}; ${cpu}`);
console.log(`requests/s ${rps.toFixed(0)} (${r['2xx']} answered 200)`);
console.log(`latency ms: p50 ${r.latency.p50} p90 ${r.latency.p90} p99 ${r.latency.p99} max ${r.latency.max} (mean ${r.latency.mean.toFixed(2)})`);
console.log(`server CPU ${((1000 * serverCpu) / Math.max(1, r['2xx'])).toFixed(3)} ms a request (${serverCpu.toFixed(1)} s over the run; the rest of the machine ran autocannon and anything else)`);
console.log(`errors ${r.errors}, timeouts ${r.timeouts}, non-2xx ${r.non2xx}; server exit on SIGTERM: ${exitCode}`);
const misses = [
  errors > GOALS.errors && `errors ${errors} > ${GOALS.errors}`,
  r.latency.p99 > GOALS.p99Ms && `p99 ${r.latency.p99} ms > ${GOALS.p99Ms} ms`,
  rps < GOALS.requestsPerSecond && `${rps.toFixed(0)} requests/s < ${GOALS.requestsPerSecond}`,
  exitCode !== 0 && `server exited ${exitCode} on SIGTERM`,
].filter(Boolean);
console.log(misses.length === 0 ? `goals met (0 errors, p99 <= ${GOALS.p99Ms} ms, >= ${GOALS.requestsPerSecond} requests/s, exit 0)` : `goals missed: ${misses.join('; ')}`);
process.exitCode = misses.length === 0 ? 0 : 1;

/** Requests that walk through the paths, one after another across all connections. */
function cycle(list: string[]) {
  let i = 0;
  return [{ method: 'GET', setupRequest: (req: object) => ({ ...req, path: list[i++ % list.length] }) }];
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

function listening(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`splade serve exited ${code} before listening`)));
  });
}
