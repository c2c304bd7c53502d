// Exporters to the engines people run SPLADE at scale with: CIFF (PISA, Anserini, Terrier, BMP),
// Anserini's JsonVectorCollection and impact queries, OpenSearch/Elasticsearch rank_features,
// Elasticsearch sparse_vector, Qdrant and Milvus sparse vectors, pgvector sparsevec, and Seismic.
export type { SparseDocument, DocumentSource, Exporter, ExportOptions, ExportResult } from './common.js';
import type { Exporter } from './common.js';
import { anseriniExporter } from './anserini.js';
import { ciffExporter } from './ciff.js';
import { elasticsearchExporter } from './elasticsearch.js';
import { milvusExporter } from './milvus.js';
import { openSearchExporter } from './opensearch.js';
import { pgvectorExporter, pgvectorSqlExporter } from './pgvector.js';
import { qdrantExporter } from './qdrant.js';
import { seismicExporter } from './seismic.js';

/** Every export format by name: a new format is its file and an entry here. */
export const EXPORTERS: readonly Exporter[] = [
  ciffExporter,
  anseriniExporter,
  openSearchExporter,
  elasticsearchExporter,
  qdrantExporter,
  milvusExporter,
  pgvectorExporter,
  pgvectorSqlExporter,
  seismicExporter,
];
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
export {
  DEFAULT_SPARSE_VECTOR_FIELD,
  elasticsearchMapping,
  elasticsearchQueryBody,
} from './elasticsearch.js';
export {
  DEFAULT_QDRANT_VECTOR,
  qdrantCollectionConfig,
  qdrantPointId,
  qdrantPointLine,
  writeQdrantPoints,
  type QdrantOptions,
} from './qdrant.js';
export {
  DEFAULT_MILVUS_FIELD,
  milvusCollectionSchema,
  milvusRow,
  milvusSparseVector,
  writeMilvusRows,
  type MilvusOptions,
} from './milvus.js';
export {
  DEFAULT_PGVECTOR_COLUMN,
  DEFAULT_PGVECTOR_TABLE,
  SPARSEVEC_HNSW_MAX_NNZ,
  SPARSEVEC_MAX_NNZ,
  pgvectorCreateIndex,
  pgvectorCreateTable,
  sparsevecLiteral,
  writePgvectorCopy,
  writePgvectorSql,
  type PgvectorOptions,
  type PgvectorWriteResult,
} from './pgvector.js';
export { seismicId, seismicLine, writeSeismicCollection } from './seismic.js';
