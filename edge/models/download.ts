/**
 * Resumable bundle download (RFC 9110 §14 range requests): bytes already in `<digest>.part`
 * are kept and the rest is asked for with `Range: bytes=<have>-`; a 206 appends, a 200 starts
 * over. The finished file must have the announced size and sha256 (MODEL_DIGEST_MISMATCH), then
 * it is renamed to `<digest>.bundle`. An optional rate cap keeps a site's uplink free for data.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CodedError, errMessage } from '../../lib/errors.ts';

export interface DownloadOptions {
  url: string;
  dir: string;
  digest: string;
  size: number;
  /** `Authorization` header value (e.g. Basic site:password). */
  authorization?: string;
  maxBytesPerSec?: number;
  signal?: AbortSignal;
  onProgress?: (have: number, total: number) => void;
}

export interface DownloadResult {
  file: string;
  resumedFrom: number;
  fetched: number;
}

function hashFile(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (!n) break;
      h.update(buf.subarray(0, n));
    }
  } finally { fs.closeSync(fd); }
  return h.digest('hex');
}

export async function downloadBundle(o: DownloadOptions): Promise<DownloadResult> {
  fs.mkdirSync(o.dir, { recursive: true });
  const done = path.join(o.dir, `${o.digest}.bundle`);
  if (fs.existsSync(done) && hashFile(done) === o.digest) return { file: done, resumedFrom: o.size, fetched: 0 };
  const part = path.join(o.dir, `${o.digest}.part`);
  let have = fs.existsSync(part) ? fs.statSync(part).size : 0;
  if (have > o.size) { fs.rmSync(part); have = 0; }
  const resumedFrom = have;
  let fetched = 0;
  if (have < o.size) {
    const headers: Record<string, string> = {};
    if (o.authorization) headers.authorization = o.authorization;
    if (have > 0) headers.range = `bytes=${have}-`;
    let res: Response;
    try {
      res = await fetch(o.url, { headers, signal: o.signal });
    } catch (err) {
      throw new CodedError('MODEL_DOWNLOAD_FAILED', `cannot reach ${o.url}: ${errMessage(err)}; the deploy resumes from ${have} B on retry`, { url: o.url });
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      const body = await res.text().catch(() => '');
      throw new CodedError('MODEL_DOWNLOAD_REFUSED', `registry answered ${res.status} for ${o.url}: ${body.slice(0, 200)}`, { url: o.url, status: res.status });
    }
    if (res.status !== 200 && res.status !== 206) throw new CodedError('MODEL_DOWNLOAD_FAILED', `registry answered ${res.status} for ${o.url}`, { url: o.url, status: res.status });
    if (res.status === 200) have = 0; // server ignored the range: start over
    const fd = fs.openSync(part, have === 0 ? 'w' : 'a');
    const t0 = performance.now();
    try {
      const reader = res.body!.getReader();
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) break;
        fs.writeSync(fd, value);
        have += value.length;
        fetched += value.length;
        if (have > o.size) throw new CodedError('MODEL_DIGEST_MISMATCH', `download of ${o.url} is longer than the announced ${o.size} B`, { url: o.url });
        o.onProgress?.(have, o.size);
        if (o.maxBytesPerSec) {
          const ahead = (fetched / o.maxBytesPerSec) * 1000 - (performance.now() - t0);
          if (ahead > 5) await new Promise((r) => setTimeout(r, ahead));
        }
      }
      fs.fsyncSync(fd);
    } catch (err) {
      if (err instanceof CodedError) throw err;
      throw new CodedError('MODEL_DOWNLOAD_FAILED', `download of ${o.url} broke off at ${have} B: ${errMessage(err)}; it resumes from there`, { url: o.url, have });
    } finally {
      fs.closeSync(fd);
    }
  }
  if (have !== o.size) throw new CodedError('MODEL_DOWNLOAD_FAILED', `download of ${o.url} ended at ${have} of ${o.size} B; it resumes from there`, { url: o.url, have });
  const actual = hashFile(part);
  if (actual !== o.digest) {
    fs.rmSync(part, { force: true });
    throw new CodedError('MODEL_DIGEST_MISMATCH', `downloaded bundle has sha256 ${actual}, the deploy command names ${o.digest}; the copy was discarded`, { expected: o.digest, actual });
  }
  fs.renameSync(part, done);
  return { file: done, resumedFrom, fetched };
}
