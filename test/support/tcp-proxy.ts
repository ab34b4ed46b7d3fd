/**
 * A real TCP proxy (node:net) on 127.0.0.1 for resilience tests: it sits in front of a
 * server (the gateway, or the S3 endpoint the gateway talks to) and lets a test break
 * the network the way flaky links break it:
 * - `cutAll()` destroys every open connection, both sides, now;
 * - `cutAfter(n)` does it after n more bytes went client → server (the cut falls
 *   inside a chunk: exactly n bytes reach the server);
 * - `throttle(bytesPerSecond)` limits each direction, shared by all connections;
 * - `holdOn(pattern)` freezes the connection whose client sends `pattern` (e.g. a request
 *   header): nothing more is forwarded either way and the socket stays open (a half-dead
 *   connection, or a request kept in flight for as long as the test needs); `releaseAll()`
 *   lets it go on.
 * The upstream can be changed (`setTarget`) so that a client keeps one URL across
 * restarts of the server behind it.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxyOptions {
  /** Bytes per second in each direction; undefined = unlimited. */
  throttle?: number;
}

export interface CutOptions {
  /**
   * How the sockets end: 'fin' (destroy: an orderly close the peer reads as EOF
   * mid-request), 'rst' (a TCP reset), or 'random' (default: either).
   */
  mode?: 'fin' | 'rst' | 'random';
}

type Direction = 'up' | 'down';

interface Connection {
  client: Socket;
  upstream: Socket;
  frozen: boolean;
  closed: boolean;
  /** A cut is under way: nothing more is forwarded. */
  dying: boolean;
  /** Bytes held back while frozen (the chunk that matched a holdOn pattern, and any that still came). */
  held: Record<Direction, Buffer[]>;
}

interface PendingCut {
  remaining: number;
  options: CutOptions;
  resolve: () => void;
}

interface PendingHold {
  pattern: Buffer;
  resolve: () => void;
}

export class TcpProxy {
  /** Bytes forwarded client → server and server → client since start. */
  bytesUp = 0;
  bytesDown = 0;
  /** Connections accepted, and connections this proxy cut (cutAll / cutAfter). */
  accepted = 0;
  cuts = 0;

  private readonly conns = new Set<Connection>();
  private pendingCut: PendingCut | undefined;
  private readonly holds: PendingHold[] = [];
  private rate: number | undefined;
  private readonly nextFree: Record<Direction, number> = { up: 0, down: 0 };

  private constructor(
    private readonly server: Server,
    private target: { host: string; port: number },
    options: TcpProxyOptions,
  ) {
    this.rate = options.throttle;
  }

  static async start(target: { host?: string; port: number }, options: TcpProxyOptions = {}): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, { host: target.host ?? '127.0.0.1', port: target.port }, options);
    server.on('connection', (socket) => proxy.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** `http://127.0.0.1:{port}` */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get openConnections(): number {
    return this.conns.size;
  }

  /** New connections go to this upstream (open ones keep theirs). */
  setTarget(port: number, host = '127.0.0.1'): void {
    this.target = { host, port };
  }

  throttle(bytesPerSecond: number | undefined): void {
    this.rate = bytesPerSecond;
  }

  /** Destroys every open connection (both sides) now. Returns how many there were. */
  cutAll(options: CutOptions = {}): number {
    const n = this.conns.size;
    for (const c of [...this.conns]) this.kill(c, options);
    if (n > 0) this.cuts++;
    return n;
  }

  /**
   * Cuts every open connection once `bytes` more bytes have gone client → server.
   * Resolves when the cut happened. Replaces a cut armed before.
   */
  cutAfter(bytes: number, options: CutOptions = {}): Promise<void> {
    return new Promise((resolve) => {
      this.pendingCut = { remaining: Math.max(0, Math.floor(bytes)), options, resolve };
    });
  }

  /** Disarms a pending `cutAfter` (its promise never resolves). */
  cancelCut(): void {
    this.pendingCut = undefined;
  }

  /**
   * Freezes the next connection whose client → server bytes contain `pattern`
   * (case-insensitive, ASCII): the chunk holding it is not forwarded, nothing more moves
   * in either direction, both sockets stay open. Resolves when that happened.
   */
  holdOn(pattern: string): Promise<void> {
    return new Promise((resolve) => this.holds.push({ pattern: Buffer.from(pattern.toLowerCase(), 'latin1'), resolve }));
  }

  /** Freezes every open connection (see holdOn). */
  freezeAll(): void {
    for (const c of this.conns) this.freeze(c);
  }

  /** Lets frozen connections go on: held bytes are forwarded, then everything flows again. */
  releaseAll(): void {
    for (const c of this.conns) {
      if (!c.frozen || c.closed) continue;
      c.frozen = false;
      for (const chunk of c.held.up.splice(0)) {
        this.bytesUp += chunk.length;
        c.upstream.write(chunk);
      }
      for (const chunk of c.held.down.splice(0)) {
        this.bytesDown += chunk.length;
        c.client.write(chunk);
      }
      c.client.resume();
      c.upstream.resume();
    }
  }

  async close(): Promise<void> {
    this.pendingCut = undefined;
    for (const c of [...this.conns]) this.kill(c, { mode: 'fin' });
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // -------------------------------------------------------------------------------------------

  private accept(client: Socket): void {
    this.accepted++;
    const upstream = connect(this.target.port, this.target.host);
    const conn: Connection = { client, upstream, frozen: false, closed: false, dying: false, held: { up: [], down: [] } };
    this.conns.add(conn);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const end = () => {
      if (conn.closed) return;
      conn.closed = true;
      this.conns.delete(conn);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    // Half-close is passed on: a client that ends its side lets the server answer.
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    this.pump(conn, client, upstream, 'up');
    this.pump(conn, upstream, client, 'down');
  }

  private pump(conn: Connection, from: Socket, to: Socket, dir: Direction): void {
    let tail: Buffer = Buffer.alloc(0); // the end of the previous chunk, so a pattern split in two is still seen
    let waits = 0; // reasons `from` is paused: backpressure and throttling
    const pause = () => {
      if (waits++ === 0) from.pause();
    };
    const resume = () => {
      if (--waits === 0 && !conn.frozen && !conn.closed) from.resume();
    };
    from.on('data', (chunk: Buffer) => {
      if (conn.closed || conn.dying) return;
      if (conn.frozen) {
        conn.held[dir].push(chunk);
        return;
      }
      if (dir === 'up' && this.holds.length > 0) {
        const seen = Buffer.concat([tail, chunk]).toString('latin1').toLowerCase();
        const i = this.holds.findIndex((h) => seen.includes(h.pattern.toString('latin1')));
        if (i >= 0) {
          const [hold] = this.holds.splice(i, 1);
          this.freeze(conn);
          conn.held.up.push(chunk);
          hold!.resolve();
          return;
        }
        tail = chunk.subarray(Math.max(0, chunk.length - 256));
      }
      let data = chunk;
      let cutNow: PendingCut | undefined;
      if (dir === 'up' && this.pendingCut) {
        const cut = this.pendingCut;
        if (data.length >= cut.remaining) {
          data = data.subarray(0, cut.remaining);
          cutNow = cut;
          this.pendingCut = undefined;
        } else {
          cut.remaining -= data.length;
        }
      }
      if (dir === 'up') this.bytesUp += data.length;
      else this.bytesDown += data.length;
      if (cutNow) {
        // Exactly `remaining` bytes reach the server, then every connection dies.
        const fire = () => {
          this.cutAll(cutNow!.options);
          cutNow!.resolve();
        };
        conn.dying = true;
        if (data.length > 0) to.write(data, fire);
        else fire();
        return;
      }
      if (!to.write(data)) {
        pause();
        to.once('drain', resume);
      }
      if (this.rate) {
        const now = Date.now();
        const free = Math.max(now, this.nextFree[dir]) + (data.length / this.rate) * 1000;
        this.nextFree[dir] = free;
        if (free - now > 2) {
          pause();
          setTimeout(resume, free - now);
        }
      }
    });
  }

  private freeze(conn: Connection): void {
    conn.frozen = true;
    conn.client.pause();
    conn.upstream.pause();
  }

  private kill(conn: Connection, { mode = 'random' }: CutOptions): void {
    if (conn.closed) return;
    conn.closed = true;
    this.conns.delete(conn);
    const rst = mode === 'rst' || (mode === 'random' && Math.random() < 0.5);
    for (const s of [conn.client, conn.upstream]) {
      if (rst && typeof s.resetAndDestroy === 'function' && !s.destroyed && !s.connecting) s.resetAndDestroy();
      else s.destroy();
    }
  }
}

/** Starts a proxy on 127.0.0.1 (random port) in front of `target`. */
export const startTcpProxy = (target: { host?: string; port: number }, options?: TcpProxyOptions) => TcpProxy.start(target, options);
