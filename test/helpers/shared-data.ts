// ../shared/data beside the repository (the CI layout): bundled collections and the BERT vocabulary.
import { resolve } from 'node:path';

export const SHARED_DATA = resolve(import.meta.dirname, '..', '..', '..', 'shared', 'data');
