// The search benchmark's collections by name (each file says its statistics).
import type { CollectionName } from './args.js';
import type { BenchCollection } from './collection.js';
import { REAL_VECTORS, realCollection } from './real-collection.js';
import { spladeCollection } from './splade-collection.js';
import { topicalCollection } from './topical-collection.js';
import { uniformCollection } from './uniform-collection.js';

export async function openCollection(name: CollectionName, seed: number): Promise<BenchCollection> {
  switch (name) {
    case 'splade': return spladeCollection(seed);
    case 'uniform': return uniformCollection(seed);
    case 'topical': return topicalCollection(seed);
    case 'real': return realCollection(REAL_VECTORS);
  }
}
