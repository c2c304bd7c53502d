// Peak resident memory of the process over a window (one training step). On Linux, writing 5 to
// /proc/self/clear_refs resets the high-water mark VmHWM, which /proc/self/status then reports for
// the window alone; elsewhere (or when /proc is not writable) the process's peak since start
// (process.resourceUsage().maxRSS) is the best available figure.
import { readFileSync, writeFileSync } from 'node:fs';

let resettable: boolean | undefined;

/** Starts a window; returns whether the peak could be reset (false: peaks are since process start). */
export function resetPeakMemory(): boolean {
  if (resettable === false) return false;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    resettable = true;
  } catch {
    resettable = false;
  }
  return resettable;
}

/** Peak resident set size in bytes since the last resetPeakMemory() (or since start). */
export function peakMemoryBytes(): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'latin1'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS * 1024;
}
