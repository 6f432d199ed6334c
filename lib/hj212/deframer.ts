import { CodedError } from '../errors.ts';
import { DEFAULT_MAX_FRAME_BYTES } from './codec.ts';
import { HJ212_ERRORS } from './codes.ts';

/**
 * Streaming deframer for HJ 212 over TCP. Frames are "##" ... CR LF (§6.3.2); the
 * end is found by scanning for CR LF rather than trusting the length field, because
 * HJ 212-2025 encrypted frames keep the plaintext length (Appendix A.2) while the
 * wire segment is longer. Handles frames split across arbitrary segment boundaries
 * and several frames per segment; bytes before a "##" are skipped (resync after
 * garbage); a frame that has not ended within `maxFrameBytes` is dropped with
 * HJ212_TOO_LARGE and scanning resumes after it. When a candidate holds several
 * "##dddd" starts (garbage glued in front of a real frame), the last one wins.
 */
export interface DeframerOptions {
  maxFrameBytes?: number;
}

export interface DeframerStats {
  frames: number;
  skippedBytes: number;
  oversized: number;
}

export class Deframer {
  private buf: Buffer = Buffer.alloc(0);
  private readonly max: number;
  readonly stats: DeframerStats = { frames: 0, skippedBytes: 0, oversized: 0 };

  constructor(opts: DeframerOptions = {}) {
    this.max = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.buf.length;
  }

  /**
   * Feed bytes; returns complete frames (including CR LF) and coded errors for
   * oversized frames, in stream order.
   */
  push(chunk: Buffer): Array<Buffer | CodedError> {
    const out: Array<Buffer | CodedError> = [];
    let data = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      const start = data.indexOf('##', pos, 'latin1');
      if (start < 0) {
        // keep a trailing '#' that may be the first half of "##"
        const keep = data.length > pos && data[data.length - 1] === 0x23 ? 1 : 0;
        this.stats.skippedBytes += data.length - pos - keep;
        pos = data.length - keep;
        break;
      }
      this.stats.skippedBytes += start - pos;
      pos = start;
      const crlf = data.indexOf('\r\n', start + 2, 'latin1');
      if (crlf < 0 && data.length - start < this.max) break; // incomplete: wait for more bytes
      if (crlf < 0 || crlf + 2 - start > this.max) {
        // No terminator within the bound: drop it. The rest of that frame holds no
        // "##", so it is skipped as garbage until the next frame starts.
        this.stats.oversized++;
        out.push(new CodedError(HJ212_ERRORS.TOO_LARGE, `frame did not end within ${this.max} bytes; discarded`, { max: this.max }));
        const next = crlf < 0 ? data.length : crlf + 2;
        this.stats.skippedBytes += next - start;
        pos = next;
        continue;
      }
      // resync: the last "##dddd" inside [start, crlf) begins the real frame
      let s = start;
      for (let i = data.lastIndexOf('##', crlf, 'latin1'); i > start; i = data.lastIndexOf('##', i - 1, 'latin1')) {
        if (i + 6 <= crlf && isDigits(data, i + 2, 4)) { s = i; break; }
      }
      this.stats.skippedBytes += s - start;
      out.push(data.subarray(s, crlf + 2));
      this.stats.frames++;
      pos = crlf + 2;
    }
    // copy the remainder so the caller's chunk can be reused/garbage collected
    this.buf = pos >= data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(pos));
    return out;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }
}

function isDigits(b: Buffer, at: number, n: number): boolean {
  for (let i = at; i < at + n; i++) if (b[i] < 0x30 || b[i] > 0x39) return false;
  return true;
}
