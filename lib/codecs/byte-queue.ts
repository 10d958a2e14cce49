/**
 * The receive buffer of a stream decoder: TCP reads (or decrypted blocks) are queued as they
 * come, without concatenating them, and whole frames are taken off the front. Concatenating
 * every read instead would copy a large body once per read (quadratic for an 8 MiB body that
 * arrives in 1 KiB HAP blocks). A taken frame is a view into the queued chunk when it lies in
 * one, otherwise one fresh copy.
 */
const EMPTY = Buffer.alloc(0);

export class ByteQueue {
  private queued: Buffer[] = [];
  /** Index of the oldest chunk still queued: taking advances it instead of shifting the array. */
  private head = 0;
  private total = 0;

  /** Bytes queued and not yet taken. */
  get length(): number {
    return this.total;
  }

  /** Queues `chunk` without copying it; the caller must not modify it afterwards. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.queued.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.total += chunk.length;
  }

  /** The first `n` queued bytes (or fewer, if fewer are queued), without consuming them. */
  peek(n: number): Buffer {
    n = Math.min(n, this.total);
    const first = this.queued[this.head];
    if (first === undefined || n <= 0) return Buffer.alloc(0);
    if (first.length >= n) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (let i = this.head; filled < n; i++) {
      const c = this.queued[i]!;
      filled += c.copy(out, filled, 0, Math.min(c.length, n - filled));
    }
    return out;
  }

  /** Removes and returns the first `n` queued bytes; `n` must not exceed `length`. */
  take(n: number): Buffer {
    if (!Number.isInteger(n) || n < 0 || n > this.total) throw new RangeError(`cannot take ${n} of ${this.total} queued bytes`);
    this.total -= n;
    const first = this.queued[this.head];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      this.dropFront(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.queued[this.head]!;
        const part = Math.min(c.length, n - filled);
        c.copy(out, filled, 0, part);
        filled += part;
        this.dropFront(part);
      }
    }
    if (this.head === this.queued.length) this.clearChunks();
    else if (this.head > 1024 && this.head * 2 > this.queued.length) {
      this.queued = this.queued.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** Drops everything queued (a decoder that failed keeps nothing). */
  clear(): void {
    this.clearChunks();
    this.total = 0;
  }

  /** Removes `n` bytes from the oldest chunk (at most its length). */
  private dropFront(n: number): void {
    const c = this.queued[this.head]!;
    if (n === c.length) this.queued[this.head++] = EMPTY;
    else this.queued[this.head] = c.subarray(n);
  }

  private clearChunks(): void {
    this.queued = [];
    this.head = 0;
  }
}
