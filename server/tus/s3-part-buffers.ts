/**
 * Part-sized buffers for the s3 datastore's write path (s3-parts.ts), reused from one part (and
 * one PATCH) to the next.
 *
 * Why: a part used to be a fresh Buffer.concat of the body's 64 KiB chunks, 16 new 8 MiB
 * buffers per 128 MiB, each a fresh allocation outside V8's heap (whose growth V8 answers with
 * full collections) whose pages fault in as they are first written: concat alone was ~0.3 s of
 * CPU per 128 MiB bench upload (node --cpu-prof), on a 2-core machine that also runs the S3
 * server. A buffer that comes back is filled again in place. (Most of the collector's time in
 * that profile comes from elsewhere: the PATCH body's web-stream conversion copies every chunk.)
 *
 * A buffer is given back only once nothing reads it: after its UploadPart / PutObject has
 * settled (the SDK's retries included). Only the bytes a part was filled with are ever sent,
 * so the previous part's bytes left beyond them are never seen.
 */
export class PartBuffers {
  private readonly idle = new Map<number, Buffer[]>();
  private idleCount = 0;
  private lastUse = 0;
  private readonly timer: NodeJS.Timeout;

  /**
   * @param maxIdle buffers kept for reuse (beyond that, given back to the collector)
   * @param idleMs  after this long without a part, the idle buffers are dropped: a quiet
   *                gateway does not hold on to the memory of its last burst
   */
  constructor(
    private readonly maxIdle: number,
    idleMs = 30_000,
  ) {
    this.timer = setInterval(() => {
      if (Date.now() - this.lastUse >= idleMs) this.clear();
    }, idleMs);
    this.timer.unref();
  }

  /** A buffer of exactly `size` bytes, its content undefined. */
  take(size: number): Buffer {
    this.lastUse = Date.now();
    const buf = this.idle.get(size)?.pop();
    if (!buf) return Buffer.allocUnsafeSlow(size);
    this.idleCount--;
    return buf;
  }

  /** Gives `buf` (from take()) back; nothing may read or write it afterwards. */
  give(buf: Buffer): void {
    if (this.idleCount >= this.maxIdle) return;
    let list = this.idle.get(buf.length);
    if (!list) this.idle.set(buf.length, (list = []));
    list.push(buf);
    this.idleCount++;
  }

  clear(): void {
    this.idle.clear();
    this.idleCount = 0;
  }
}
