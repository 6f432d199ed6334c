/**
 * Cuts ffmpeg's raw rgb24 byte stream into whole frames. Chunks from a pipe have arbitrary
 * sizes (64 KiB typical); a frame is width*height*3 bytes. Each frame is handed out in its own
 * buffer (the consumer may keep it for a snapshot while the next one fills).
 */
export class FrameAssembler {
  private buf: Buffer;
  private fill = 0;
  private readonly free: Buffer[] = [];
  frames = 0;
  /** Frames served from recycled buffers (no fresh allocation / page faults). */
  reused = 0;
  constructor(readonly frameBytes: number, private readonly onFrame: (frame: Buffer) => void) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new RangeError(`frame size must be a positive integer, got ${frameBytes}`);
    this.buf = Buffer.allocUnsafeSlow(frameBytes);
  }

  push(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameBytes - this.fill, chunk.length - off);
      this.buf.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.frameBytes) {
        const done = this.buf;
        this.buf = this.take();
        this.fill = 0;
        this.frames++;
        this.onFrame(done);
      }
    }
  }

  private take(): Buffer {
    const b = this.free.pop();
    if (b) { this.reused++; return b; }
    return Buffer.allocUnsafeSlow(this.frameBytes);
  }

  /**
   * Give a frame buffer back once nothing references it any more (dropped, or inferred without
   * a snapshot). Reusing buffers avoids a fresh 1+ MB allocation and its page faults per frame.
   */
  recycle(buf: Uint8Array): void {
    if (buf.byteLength === this.frameBytes && buf instanceof Buffer && this.free.length < 4 && buf !== this.buf && !this.free.includes(buf)) this.free.push(buf);
  }

  /** Bytes of an incomplete frame (dropped on restart). */
  get partial(): number {
    return this.fill;
  }

  reset(): void {
    this.fill = 0;
  }
}
