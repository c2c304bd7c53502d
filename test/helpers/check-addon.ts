// The kernel-check addon (native/check, built beside splade.node as splade_check.node by both the
// cmake-js and the node-gyp build): each fast kernel against its reference, for the tests only, so the
// checks do not ship in the product's addon. Found beside whichever splade.node the library loads.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { addonCandidates } from '../../lib/native.js';

export interface KernelCheckResult { maxError: number; nonFinite: number; mismatches: number; checked: number }

export interface CheckAddon {
  /** An encoder kernel on one vector-unit variant (native/check/kernel_check.h). */
  kernelCheck(op: string, cpu: string, seed: number): KernelCheckResult;
  /** A training kernel (native/check/kernel_check.h, train_kernel_check). */
  trainKernelCheck(op: string, seed: number): KernelCheckResult;
}

export function checkAddon(): CheckAddon {
  const paths = addonCandidates().map((p) => join(dirname(p), 'splade_check.node'));
  const path = paths.find((p) => existsSync(p));
  if (path === undefined) throw new Error(`the kernel-check addon is not built: none of ${paths.join(', ')}`);
  return createRequire(import.meta.url)(path) as CheckAddon;
}
