// pytorch_model.bin without Python: torch.save's zip archive (stored, uncompressed entries:
// <prefix>/data.pkl, the pickled state dict, and <prefix>/data/<key>, one raw little-endian storage per
// key) read with a small pickle VM for the subset torch.save emits at protocol 2: OrderedDict state
// dicts of torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) whose storages arrive
// through persistent ids ('storage', torch.FloatStorage, key, location, numel).
import { crc32 } from 'node:zlib';

import { ErrorCode, SpladeError } from '../errors.js';
import { FileHandle, type StoredTensor, bytesPerElement, convertInto, corrupt, numel } from './tensor.js';

interface ZipEntry {
  name: string;
  dataOffset: number;
  size: number;
  /** CRC-32 of the entry's bytes, from the central directory. */
  crc32: number;
}

/** Throws unless bytes (all of entry) match the entry's CRC-32: a flipped bit in a weight is caught here. */
function checkCrc(file: string, entry: ZipEntry, bytes: Uint8Array): void {
  const got = crc32(bytes);
  if (got !== entry.crc32) {
    throw corrupt(file, `zip entry ${entry.name} fails its CRC-32 check (stored ${entry.crc32.toString(16)}, computed ${got.toString(16)}): the file is damaged`);
  }
}

/** Lists a zip's entries from its central directory (zip64 aware); only stored entries are usable. */
export function readZipDirectory(h: FileHandle): Map<string, ZipEntry> {
  const tailLen = Math.min(h.size, 65557);
  if (tailLen < 22) throw corrupt(h.path, 'truncated file: too short for a zip archive');
  const tail = h.read(h.size - tailLen, tailLen, 'the zip end of central directory');
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw corrupt(h.path, 'truncated file or not a zip archive: no end of central directory (torch.save writes zip archives)');
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tail.readUInt32LE(loc) !== 0x07064b50) throw corrupt(h.path, 'zip64 locator missing');
    const z64 = Number(tail.readBigUInt64LE(loc + 8));
    const rec = h.read(z64, 56, 'the zip64 end of central directory');
    if (rec.readUInt32LE(0) !== 0x06064b50) throw corrupt(h.path, 'bad zip64 end of central directory');
    count = Number(rec.readBigUInt64LE(32));
    cdSize = Number(rec.readBigUInt64LE(40));
    cdOffset = Number(rec.readBigUInt64LE(48));
  }
  const cd = h.read(cdOffset, cdSize, 'the zip central directory');
  const out = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) throw corrupt(h.path, 'bad zip central directory entry');
    const method = cd.readUInt16LE(p + 10);
    const crc = cd.readUInt32LE(p + 16);
    let size = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28), extraLen = cd.readUInt16LE(p + 30), commentLen = cd.readUInt16LE(p + 32);
    let local = cd.readUInt32LE(p + 42);
    const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
    // zip64 extra field: uncompressed, compressed, local offset, in that order, present when 0xffffffff
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = cd.readUInt16LE(e), len = cd.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) (size = Number(cd.readBigUInt64LE(q))), (q += 8);
        if (cd.readUInt32LE(p + 20) === 0xffffffff) q += 8;
        if (local === 0xffffffff) local = Number(cd.readBigUInt64LE(q));
      }
      e += 4 + len;
    }
    p = eEnd + commentLen;
    if (method !== 0) throw corrupt(h.path, `zip entry ${name} is compressed (method ${method}); torch.save writes stored entries`);
    const lh = h.read(local, 30, `the local header of ${name}`);
    if (lh.readUInt32LE(0) !== 0x04034b50) throw corrupt(h.path, `bad local header for ${name}`);
    const dataOffset = local + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
    out.set(name, { name, dataOffset, size, crc32: crc });
  }
  return out;
}

// Pickle values we model. Anything else becomes an opaque object.
interface Global {
  kind: 'global';
  module: string;
  name: string;
}
interface Storage {
  kind: 'storage';
  key: string;
  dtype: string;
  numel: number;
}
interface TensorDesc {
  kind: 'tensor';
  storage: Storage;
  offset: number;
  shape: number[];
  stride: number[];
}
interface Opaque {
  kind: 'opaque';
  what: string;
}
const MARK = Symbol('mark');

const STORAGE_DTYPES: Record<string, string> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** Runs the pickle in data (protocol <= 2 plus the few protocol-4 framing ops) and returns its value. */
export function unpickle(data: Buffer, file: string): unknown {
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const need = (n: number) => {
    if (p + n > data.length) throw corrupt(file, 'truncated pickle (data.pkl)');
  };
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw corrupt(file, 'pickle: MARK not found');
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const setItems = (dict: unknown, kv: unknown[]) => {
    for (let i = 0; i + 1 < kv.length; i += 2) {
      if (dict instanceof Map) dict.set(kv[i], kv[i + 1]);
    }
  };
  for (;;) {
    need(1);
    const op = data[p++];
    switch (op) {
      case 0x80: // PROTO
        need(1);
        p += 1;
        break;
      case 0x95: // FRAME
        need(8);
        p += 8;
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, stack[stack.length - 1]);
        break;
      case 0x7d: // EMPTY_DICT '}'
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST ']'
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE ')'
        stack.push([]);
        break;
      case 0x28: // MARK '('
        stack.push(MARK);
        break;
      case 0x71: // BINPUT 'q'
        need(1);
        memo.set(data[p++], stack[stack.length - 1]);
        break;
      case 0x72: // LONG_BINPUT 'r'
        need(4);
        memo.set(data.readUInt32LE(p), stack[stack.length - 1]);
        p += 4;
        break;
      case 0x68: // BINGET 'h'
        need(1);
        stack.push(memo.get(data[p++]));
        break;
      case 0x6a: // LONG_BINGET 'j'
        need(4);
        stack.push(memo.get(data.readUInt32LE(p)));
        p += 4;
        break;
      case 0x58: { // BINUNICODE 'X'
        need(4);
        const n = data.readUInt32LE(p);
        p += 4;
        need(n);
        stack.push(data.toString('utf8', p, p + n));
        p += n;
        break;
      }
      case 0x8c: { // SHORT_BINUNICODE
        need(1);
        const n = data[p++];
        need(n);
        stack.push(data.toString('utf8', p, p + n));
        p += n;
        break;
      }
      case 0x55: { // SHORT_BINSTRING 'U'
        need(1);
        const n = data[p++];
        need(n);
        stack.push(data.toString('latin1', p, p + n));
        p += n;
        break;
      }
      case 0x54: { // BINSTRING 'T'
        need(4);
        const n = data.readUInt32LE(p);
        p += 4;
        need(n);
        stack.push(data.toString('latin1', p, p + n));
        p += n;
        break;
      }
      case 0x63: { // GLOBAL 'c': module\nname\n
        const nl1 = data.indexOf(10, p);
        const nl2 = nl1 < 0 ? -1 : data.indexOf(10, nl1 + 1);
        if (nl2 < 0) throw corrupt(file, 'truncated pickle (GLOBAL)');
        stack.push({ kind: 'global', module: data.toString('utf8', p, nl1), name: data.toString('utf8', nl1 + 1, nl2) } satisfies Global);
        p = nl2 + 1;
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = stack.pop() as string, module = stack.pop() as string;
        stack.push({ kind: 'global', module, name } satisfies Global);
        break;
      }
      case 0x51: { // BINPERSID 'Q'
        const pid = stack.pop() as unknown[];
        if (!Array.isArray(pid) || pid[0] !== 'storage') throw corrupt(file, 'pickle: unexpected persistent id');
        const type = pid[1] as Global;
        stack.push({ kind: 'storage', key: String(pid[2]), dtype: STORAGE_DTYPES[type.name] ?? type.name, numel: Number(pid[4]) } satisfies Storage);
        break;
      }
      case 0x74: // TUPLE 't'
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([stack.pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = stack.pop(), a = stack.pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = stack.pop(), b = stack.pop(), a = stack.pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x4b: // BININT1 'K'
        need(1);
        stack.push(data[p++]);
        break;
      case 0x4d: // BININT2 'M'
        need(2);
        stack.push(data.readUInt16LE(p));
        p += 2;
        break;
      case 0x4a: // BININT 'J'
        need(4);
        stack.push(data.readInt32LE(p));
        p += 4;
        break;
      case 0x8a: { // LONG1
        need(1);
        const n = data[p++];
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[p + i]);
        if (n > 0 && data[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        p += n;
        break;
      }
      case 0x47: // BINFLOAT 'G'
        need(8);
        stack.push(data.readDoubleBE(p));
        p += 8;
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4e: // NONE 'N'
        stack.push(null);
        break;
      case 0x52: { // REDUCE 'R'
        const args = stack.pop() as unknown[];
        const fn = stack.pop() as Global;
        stack.push(reduce(fn, args, file));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = stack.pop() as unknown[];
        const cls = stack.pop() as Global;
        stack.push(reduce(cls, args, file));
        break;
      }
      case 0x62: // BUILD 'b': state for the object below; our values need none
        stack.pop();
        break;
      case 0x73: { // SETITEM 's'
        const v = stack.pop(), k = stack.pop();
        setItems(stack[stack.length - 1], [k, v]);
        break;
      }
      case 0x75: { // SETITEMS 'u'
        const kv = popMark();
        setItems(stack[stack.length - 1], kv);
        break;
      }
      case 0x61: { // APPEND 'a'
        const v = stack.pop();
        (stack[stack.length - 1] as unknown[]).push(v);
        break;
      }
      case 0x65: { // APPENDS 'e'
        const items = popMark();
        (stack[stack.length - 1] as unknown[]).push(...items);
        break;
      }
      case 0x2e: // STOP '.'
        return stack.pop();
      default:
        throw new SpladeError(`${file}: unsupported pickle opcode 0x${op.toString(16)} at byte ${p - 1} of data.pkl`, ErrorCode.unsupported);
    }
  }
}

function reduce(fn: Global, args: unknown[], file: string): unknown {
  if (!fn || fn.kind !== 'global') throw corrupt(file, 'pickle: REDUCE on a non-callable');
  const q = `${fn.module}.${fn.name}`;
  if (q === 'collections.OrderedDict' || q === 'builtins.dict') return new Map();
  if (q === 'torch._utils._rebuild_tensor_v2' || q === 'torch._utils._rebuild_tensor') {
    const [storage, offset, shape, stride] = args as [Storage, number, number[], number[]];
    return { kind: 'tensor', storage, offset, shape: [...shape], stride: [...stride] } satisfies TensorDesc;
  }
  if (q === 'torch._utils._rebuild_parameter' || q === 'torch._utils._rebuild_parameter_with_state') return args[0];
  return { kind: 'opaque', what: q } satisfies Opaque;
}

/** Lists the tensors of a torch.save zip checkpoint (data is read lazily, per tensor). */
export function readTorchCheckpoint(handle: FileHandle): StoredTensor[] {
  const file = handle.path;
  const entries = readZipDirectory(handle);
  const pkl = [...entries.values()].find((e) => e.name.endsWith('/data.pkl') || e.name === 'data.pkl');
  if (!pkl) throw corrupt(file, 'no data.pkl in the archive (legacy, non-zip torch.save files are not supported)');
  const prefix = pkl.name.slice(0, pkl.name.length - 'data.pkl'.length);
  if (pkl.dataOffset + pkl.size > handle.size) throw corrupt(file, 'truncated file: data.pkl runs past the end');
  const pklBytes = handle.read(pkl.dataOffset, pkl.size, 'data.pkl');
  checkCrc(file, pkl, pklBytes);
  const root = unpickle(pklBytes, file);
  // Each storage's CRC is checked once, when a tensor first reads it (tied weights share one).
  const checked = new Set<string>();
  const verify = async (entry: ZipEntry, whole?: Buffer) => {
    if (checked.has(entry.name)) return;
    checkCrc(file, entry, whole ?? (await handle.readAsync(entry.dataOffset, entry.size, entry.name)));
    checked.add(entry.name);
  };
  let dict = root;
  if (dict instanceof Map && dict.has('state_dict') && dict.get('state_dict') instanceof Map) dict = dict.get('state_dict');
  if (!(dict instanceof Map)) throw corrupt(file, 'the pickle does not hold a state dict');
  const out: StoredTensor[] = [];
  for (const [name, value] of dict as Map<unknown, unknown>) {
    const t = value as TensorDesc;
    if (typeof name !== 'string' || !t || t.kind !== 'tensor') continue;
    const entry = entries.get(`${prefix}data/${t.storage.key}`);
    out.push({
      name,
      file,
      dtype: t.storage.dtype,
      shape: t.shape,
      async read(dst: Float32Array) {
        const size = bytesPerElement(t.storage.dtype);
        if (size === undefined) convertInto(dst, new Uint8Array(0), t.storage.dtype, file, name); // throws: unsupported
        if (!entry) throw corrupt(file, `tensor ${name}: storage data/${t.storage.key} is missing from the archive`);
        const n = numel(t.shape);
        // furthest element touched, for any strides
        let last = t.offset;
        for (let d = 0; d < t.shape.length; d++) last += (t.shape[d] - 1) * t.stride[d];
        if (n > 0 && (last + 1) * size! > entry.size) {
          throw corrupt(file, `truncated file: tensor ${name} needs ${(last + 1) * size!} bytes of storage data/${t.storage.key}, which has ${entry.size}`);
        }
        if (entry.dataOffset + entry.size > handle.size) throw corrupt(file, `truncated file: storage data/${t.storage.key} of tensor ${name} runs past the end`);
        let contiguous = true;
        for (let d = t.shape.length - 1, s = 1; d >= 0; d--) {
          if (t.shape[d] !== 1 && t.stride[d] !== s) contiguous = false;
          s *= t.shape[d];
        }
        if (contiguous) {
          const raw = await handle.readAsync(entry.dataOffset + t.offset * size!, n * size!, `tensor ${name}`);
          await verify(entry, t.offset === 0 && n * size! === entry.size ? raw : undefined);
          convertInto(dst, raw, t.storage.dtype, file, name);
          return;
        }
        await verify(entry);
        const span = (last + 1 - t.offset) * size!;
        const all = new Float32Array(last + 1 - t.offset);
        convertInto(all, await handle.readAsync(entry.dataOffset + t.offset * size!, span, `tensor ${name}`), t.storage.dtype, file, name);
        const idx = new Array(t.shape.length).fill(0);
        for (let i = 0; i < n; i++) {
          let o = 0;
          for (let d = 0; d < idx.length; d++) o += idx[d] * t.stride[d];
          dst[i] = all[o];
          for (let d = idx.length - 1; d >= 0; d--) {
            if (++idx[d] < t.shape[d]) break;
            idx[d] = 0;
          }
        }
      },
    });
  }
  return out;
}
