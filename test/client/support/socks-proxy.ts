import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A SOCKS5 proxy the browser sends all its traffic through (Playwright `proxy`),
 * so a test can take the network away for real: `cut()` resets every open
 * connection — a PATCH in flight dies mid-body, which `context.setOffline()` cannot
 * do (docs/tus-server-notes.md) — and while `down`, new connections are refused. `rate` throttles
 * the upstream direction so a loopback upload lasts long enough to be interrupted.
 * SOCKS rather than an HTTP proxy: after the handshake it is a plain byte pipe, so
 * requests reach the gateway exactly as the browser wrote them.
 */
export interface SocksProxy {
  /** `socks5://127.0.0.1:port` for Playwright's `proxy.server`. */
  readonly url: string;
  /** Bytes per second from browser to server, shared by all connections; 0 = unlimited. */
  rate: number;
  /** While true, new connections are refused (SOCKS reply 0x05, "connection refused"). */
  down: boolean;
  /** Flips one byte in the middle of each of the next this-many large (≥ 16 KiB: body) chunks from browser to server. */
  flipBytes: number;
  /** Destroys every open connection, both sides. Returns how many there were. */
  cut(): number;
  close(): Promise<void>;
}

export async function startSocksProxy(options: { rate?: number } = {}): Promise<SocksProxy> {
  const open = new Set<Socket>();
  // One token bucket for the whole "link": the time at which the link is free again.
  let linkFreeAt = 0;

  const proxy: SocksProxy = {
    url: '',
    rate: options.rate ?? 0,
    down: false,
    flipBytes: 0,
    cut() {
      const n = open.size;
      for (const s of open) s.destroy();
      open.clear();
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.cut();
        server.close(() => resolve());
      }),
  };

  function track(s: Socket) {
    open.add(s);
    s.once('close', () => open.delete(s));
    s.on('error', () => s.destroy());
  }

  /** Client → target, paced: each chunk occupies the link for chunk/rate seconds. */
  function pipeThrottled(from: Socket, to: Socket) {
    from.on('data', (chunk: Buffer) => {
      if (proxy.flipBytes > 0 && chunk.length >= 16 * 1024) {
        proxy.flipBytes--;
        chunk = Buffer.from(chunk);
        const at = chunk.length >> 1;
        chunk[at] = chunk[at]! ^ 0x20;
      }
      if (!to.write(chunk)) from.pause(), to.once('drain', () => from.resume());
      if (!proxy.rate) return;
      const now = Date.now();
      linkFreeAt = Math.max(linkFreeAt, now) + (chunk.length / proxy.rate) * 1000;
      const wait = linkFreeAt - now;
      if (wait > 1) {
        from.pause();
        setTimeout(() => from.resume(), wait);
      }
    });
    from.once('end', () => to.end());
  }

  const server = createServer((client) => {
    track(client);
    let buf = Buffer.alloc(0);
    let stage: 'greeting' | 'request' = 'greeting';
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (stage === 'greeting') {
        if (buf.length < 2 || buf.length < 2 + buf[1]!) return;
        buf = buf.subarray(2 + buf[1]!);
        client.write(Buffer.from([5, 0])); // SOCKS5, no authentication
        stage = 'request';
      }
      if (buf.length < 5) return;
      const atyp = buf[3];
      const addrLen = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + buf[4]! : -1;
      if (addrLen < 0 || buf[1] !== 1) return void client.end(Buffer.from([5, 7, 0, 1, 0, 0, 0, 0, 0, 0])); // CONNECT only
      if (buf.length < 4 + addrLen + 2) return;
      const host =
        atyp === 1 ? [...buf.subarray(4, 8)].join('.')
        : atyp === 3 ? buf.subarray(5, 5 + buf[4]!).toString()
        : (buf.subarray(4, 20).toString('hex').match(/.{4}/g) ?? []).join(':');
      const port = buf.readUInt16BE(4 + addrLen);
      const rest = buf.subarray(4 + addrLen + 2);
      client.off('data', onData);
      client.pause();
      if (proxy.down) return void client.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]));
      const target = connect({ host, port });
      track(target);
      target.once('connect', () => {
        client.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
        if (rest.length) target.write(rest);
        pipeThrottled(client, target);
        target.pipe(client);
        client.resume();
      });
      target.once('error', () => {
        if (!client.destroyed) client.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]));
      });
      target.once('close', () => client.destroy());
      client.once('close', () => target.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(proxy, { url: `socks5://127.0.0.1:${port}` });
}
