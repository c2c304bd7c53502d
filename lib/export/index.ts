// Exporters to the engines people run SPLADE at scale with: CIFF (PISA, Anserini, Terrier, BMP),
// Anserini's JsonVectorCollection and impact queries, and OpenSearch/Elasticsearch rank_features.
export type { SparseDocument, DocumentSource, Exporter, ExportOptions } from './common.js';
import type { Exporter } from './common.js';
import { anseriniExporter } from './anserini.js';
import { ciffExporter } from './ciff.js';
import { openSearchExporter } from './opensearch.js';

/** Every export format by name: a new format is its file and an entry here. */
export const EXPORTERS: readonly Exporter[] = [ciffExporter, anseriniExporter, openSearchExporter];
export {
  CIFF_VERSION,
  ciffScale,
  ciffToDocuments,
  quantizeImpact,
  readCiff,
  streamCiff,
  writeCiff,
  type CiffDocRecord,
  type CiffHeader,
  type CiffPostingsList,
  type CiffRecord,
  type CiffWriteOptions,
} from './ciff.js';
export {
  ANSERINI_QUANT_SCALE,
  anseriniDocumentLine,
  anseriniQueryJsonLine,
  anseriniQueryTsvLine,
  writeAnseriniCollection,
  writeAnseriniQueries,
  type AnseriniOptions,
  type AnseriniQueryOptions,
} from './anserini.js';
export {
  DEFAULT_RANK_FEATURES_FIELD,
  escapeFeatureName,
  mapping,
  mapping as openSearchMapping,
  openSearchBulkLines,
  queryBody,
  queryBody as openSearchQueryBody,
  rankFeatures,
  unescapeFeatureName,
  writeOpenSearchBulk,
  type OpenSearchBulkOptions,
} from './opensearch.js';
