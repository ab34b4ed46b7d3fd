import { createSHA256, type IHasher } from 'hash-wasm';

/**
 * A sha256 whose state can be written down and picked up again in another
 * process. node:crypto's Hash cannot export its state, so a restart would mean
 * reading the whole upload again; hash-wasm's `save()`/`load()` can. It is slower
 * than OpenSSL (see the README's benchmark), the price of never re-reading a
 * 10 GB model after a crash.
 */
export interface HashState {
  /** Bytes hashed so far. */
  offset: number;
  /** hash-wasm's saved state, base64. */
  state: string;
}

export class ResumableSha256 {
  private constructor(
    private readonly hasher: IHasher,
    public offset: number,
  ) {}

  static async create(): Promise<ResumableSha256> {
    const h = await createSHA256();
    h.init();
    return new ResumableSha256(h, 0);
  }

  static async restore(saved: HashState): Promise<ResumableSha256> {
    const h = await createSHA256();
    h.init();
    h.load(Buffer.from(saved.state, 'base64'));
    return new ResumableSha256(h, saved.offset);
  }

  update(chunk: Uint8Array): void {
    this.hasher.update(chunk);
    this.offset += chunk.length;
  }

  save(): HashState {
    return { offset: this.offset, state: Buffer.from(this.hasher.save()).toString('base64') };
  }

  /** The hex digest; the hasher is spent afterwards. */
  digest(): string {
    return this.hasher.digest('hex');
  }
}
