// One writer per live index directory: `write.lock`, created exclusively (O_EXCL) and holding the
// owner's pid. A lock whose owner process is gone (killed with kill -9) is stale and taken over, so
// a crash never leaves a directory that cannot be opened. Owners are told apart by pid, which is
// enough on one machine (the directory is not meant to be shared over a network file system).
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import { ErrorCode, SpladeError } from '../errors.js';

export const LOCK_FILE = 'write.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Held locks of this process: a second writer in the same process is refused too. */
const heldHere = new Set<string>();

export class WriteLock {
  private constructor(private readonly path: string) {}

  static acquire(dir: string): WriteLock {
    const path = join(dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      if (heldHere.has(path)) break;
      try {
        const fd = openSync(path, 'wx');
        try {
          writeSync(fd, `${process.pid}\n`);
        } finally {
          closeSync(fd);
        }
        heldHere.add(path);
        return new WriteLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new SpladeError(`Cannot create ${path}: ${(err as Error).message}`, ErrorCode.io, { cause: err });
        }
      }
      let owner = NaN;
      try {
        owner = Number.parseInt(readFileSync(path, 'utf8'), 10);
      } catch {
        // removed meanwhile, or not yet written: try again
      }
      // An empty lock file is one whose writer died between create and write: stale too.
      if (Number.isInteger(owner) && owner !== process.pid && alive(owner)) break;
      if (Number.isInteger(owner) && owner === process.pid) break;
      try {
        unlinkSync(path);
      } catch {
        // another process took it over first; the next attempt finds out who
      }
    }
    throw new SpladeError(`The live index ${dir} is locked: another IndexWriter has it open (${path})`, ErrorCode.locked);
  }

  release(): void {
    if (!heldHere.delete(this.path)) return;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone: nothing to release
    }
  }
}
