// safetensors: an 8-byte little-endian header length, a JSON header (name -> dtype, shape,
// data_offsets relative to the data section; optional __metadata__), then the raw little-endian data.
// Reading checks the header against the file size (truncation names the tensor); writing is atomic
// (temp name + rename), so no half-written file is ever left under the final name.
import { writeFileAtomicSync } from '../data/atomic.js';
import { FileHandle, type StoredTensor, bytesPerElement, checkFinite, convertInto, corrupt, numel } from './tensor.js';

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Opens one .safetensors file and lists its tensors (data is read lazily, per tensor). */
export function readSafetensors(handle: FileHandle): StoredTensor[] {
  const file = handle.path;
  if (handle.size < 8) throw corrupt(file, `truncated file: ${handle.size} bytes, no safetensors header`);
  const lenBuf = handle.read(0, 8, 'the header length');
  const headerLen = Number(lenBuf.readBigUInt64LE(0));
  if (headerLen > 100_000_000 || 8 + headerLen > handle.size) {
    throw corrupt(file, `truncated file or bad header: header length ${headerLen} but the file has ${handle.size} bytes`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(handle.read(8, headerLen, 'the header').toString('utf8'));
  } catch (err) {
    throw corrupt(file, `the safetensors header is not valid JSON (${(err as Error).message})`);
  }
  const base = 8 + headerLen;
  const dataSize = handle.size - base;
  const out: StoredTensor[] = [];
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = value as HeaderEntry;
    if (!e || typeof e.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
      throw corrupt(file, `tensor ${name}: malformed header entry`);
    }
    const [begin, end] = e.data_offsets;
    if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && begin >= 0 && begin <= end)) {
      throw corrupt(file, `tensor ${name}: bad data_offsets ${JSON.stringify(e.data_offsets)}`);
    }
    if (end > dataSize) {
      throw corrupt(file, `truncated file: tensor ${name} ends at byte ${base + end} but the file has ${handle.size} bytes`);
    }
    const dtype = e.dtype;
    if (!e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw corrupt(file, `tensor ${name}: bad shape ${JSON.stringify(e.shape)}`);
    const shape = e.shape.map(Number);
    const size = bytesPerElement(dtype);
    if (size !== undefined && end - begin !== numel(shape) * size) {
      throw corrupt(file, `tensor ${name}: data_offsets span ${end - begin} bytes, shape ${JSON.stringify(shape)} ${dtype} needs ${numel(shape) * size}`);
    }
    spans.push({ name, begin, end });
    out.push({
      name,
      file,
      dtype,
      shape,
      async read(dst: Float32Array) {
        if (size === undefined) convertInto(dst, new Uint8Array(0), dtype, file, name); // throws: unsupported dtype
        const bytes = end - begin;
        if (dtype === 'F32') {
          await handle.readIntoAsync(new Uint8Array(dst.buffer, dst.byteOffset, bytes), base + begin, `tensor ${name}`);
          checkFinite(dst, file, name);
        } else {
          convertInto(dst, await handle.readAsync(base + begin, bytes, `tensor ${name}`), dtype, file, name);
        }
      },
    });
  }
  checkTiling(file, spans, dataSize);
  return out;
}

/**
 * As the safetensors format requires (and its reference reader checks): the tensors' byte ranges,
 * in order, tile the data section exactly, with no gap, no overlap and nothing after the last one.
 * A damaged header (a shifted or aliased range, one that points into the header or past the data)
 * would otherwise load another tensor's bytes as weights without a word.
 */
function checkTiling(file: string, spans: { name: string; begin: number; end: number }[], dataSize: number): void {
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const s of spans) {
    if (s.begin !== at) {
      throw corrupt(file, `tensor ${s.name}: data_offsets [${s.begin}, ${s.end}] ${s.begin < at ? 'overlap another tensor' : `leave bytes ${at}..${s.begin} unused`} (tensors must tile the data section)`);
    }
    at = s.end;
  }
  if (at !== dataSize) throw corrupt(file, `the tensors cover ${at} of the data section's ${dataSize} bytes (tensors must tile the data section)`);
}

/** Writes F32 tensors as one safetensors file, atomically. */
export function writeSafetensors(path: string, tensors: Iterable<[string, Float32Array, number[]]>, metadata: Record<string, string> = { format: 'pt' }): void {
  const list = [...tensors];
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, data, shape] of list) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  writeFileAtomicSync(path, [len, headerBytes, ...list.map(([, data]) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength))]);
}
