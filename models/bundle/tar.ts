/**
 * Minimal POSIX ustar (IEEE Std 1003.1-1988 "ustar Interchange Format") writer and reader for
 * model bundles: regular files only, flat names ≤ 100 bytes, deterministic headers (mode 0644,
 * uid/gid 0, mtime 0) so the same inputs always give the same bytes and the same sha256.
 *
 * Header block (512 bytes): name[100] mode[8] uid[8] gid[8] size[12] mtime[12] chksum[8]
 * typeflag[1] linkname[100] magic[6]="ustar\0" version[2]="00" uname[32] gname[32]
 * devmajor[8] devminor[8] prefix[155] pad[12]. Numeric fields are octal ASCII. The checksum is
 * the sum of all header bytes with the chksum field taken as 8 spaces. Data follows, padded to
 * 512; the archive ends with two zero blocks.
 */
import { CodedError } from '../../lib/errors.ts';

export interface TarEntry {
  name: string;
  data: Buffer;
}

const BLOCK = 512;

function octal(buf: Buffer, off: number, len: number, value: number): void {
  // len-1 octal digits, NUL terminated
  buf.write(value.toString(8).padStart(len - 1, '0') + '\0', off, len, 'ascii');
}

function header(name: string, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100 || !name || name.includes('\0')) throw new CodedError('MODEL_BUNDLE_CORRUPT', `tar entry name ${JSON.stringify(name)} must be 1–100 bytes`);
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, 0o644);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, 0);
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

export function writeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(header(e.name, e.data.length), e.data);
    const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

function corrupt(msg: string, details?: Record<string, unknown>): CodedError {
  return new CodedError('MODEL_BUNDLE_CORRUPT', `model bundle is not a valid archive: ${msg}; re-download or re-pack it`, details);
}

function readOctal(h: Buffer, off: number, len: number, field: string): number {
  const s = h.toString('ascii', off, off + len).replace(/[\0 ]+$/g, '').replace(/^ +/, '');
  if (!/^[0-7]{1,12}$/.test(s)) throw corrupt(`header field ${field} is not octal`, { field });
  return parseInt(s, 8);
}

/** Parse a ustar archive; every structural problem is MODEL_BUNDLE_CORRUPT. Duplicate names are refused. */
export function readTar(buf: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  const names = new Set<string>();
  let off = 0;
  for (;;) {
    if (off + BLOCK > buf.length) throw corrupt('truncated (no end-of-archive blocks)', { offset: off });
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) {
      if (off + 2 * BLOCK > buf.length || !buf.subarray(off + BLOCK, off + 2 * BLOCK).every((b) => b === 0)) throw corrupt('truncated end-of-archive marker', { offset: off });
      return out;
    }
    if (h.toString('ascii', 257, 262) !== 'ustar') throw corrupt('missing ustar magic', { offset: off });
    const stored = readOctal(h, 148, 8, 'chksum');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    if (sum !== stored) throw corrupt('header checksum mismatch', { offset: off });
    const nul = h.indexOf(0, 0);
    const name = h.toString('utf8', 0, nul < 0 || nul > 100 ? 100 : nul);
    const type = String.fromCharCode(h[156]);
    if (type !== '0' && type !== '\0') throw corrupt(`entry ${JSON.stringify(name)} is not a regular file (type ${JSON.stringify(type)})`);
    const size = readOctal(h, 124, 12, 'size');
    const start = off + BLOCK;
    if (start + size > buf.length) throw corrupt(`entry ${JSON.stringify(name)} runs past the end`, { name });
    if (names.has(name)) throw corrupt(`duplicate entry ${JSON.stringify(name)}`, { name });
    names.add(name);
    out.push({ name, data: buf.subarray(start, start + size) });
    off = start + Math.ceil(size / BLOCK) * BLOCK;
  }
}
