// Data readers and writers: BEIR and MS MARCO collections, qrels, TREC runs.
export type { CorpusDoc, Qrels, Query, Run, RunEntry } from './types.js';
export { readLines, isGzipped, type Line } from './lines.js';
export { readBeirCorpus, readBeirQueries, loadBeir, findDataFile, type BeirDataset } from './beir.js';
export { readMsMarcoCollection, readMsMarcoQueries } from './msmarco.js';
export { readQrels, type QrelsFormat } from './qrels.js';
export { readRun, writeRun, trecOrder, compareIds, type WriteRunOptions } from './trec.js';
export { writeFileAtomic, writeFileAtomicSync } from './atomic.js';
export { readVectors, vectorLine, type IdVector } from './vectors.js';
