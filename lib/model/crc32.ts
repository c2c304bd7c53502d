// CRC-32 (the zip / gzip polynomial 0xEDB88320), to check the entries of torch.save's zip archives as
// PyTorch's reader does. zlib.crc32 (Node 20.15 and later) when present; else a table-driven fallback.
import * as zlib from 'node:zlib';

let table: Uint32Array | undefined;

function crc32Table(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** The plain-JavaScript CRC-32 (exported for the test that checks it against zlib's). */
export function crc32Fallback(data: Uint8Array, crc = 0): number {
  const t = crc32Table();
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of data, continuing from crc (0 to start). */
export function crc32(data: Uint8Array, crc = 0): number {
  return native ? native(data, crc) >>> 0 : crc32Fallback(data, crc);
}
