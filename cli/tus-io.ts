import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { DefaultHttpStack, type HttpRequest, type HttpResponse, type HttpStack } from 'tus-js-client';

/** What `upload` hands tus-js-client as its "file": a path and the size it had when hashed. */
export interface LocalFile {
  path: string;
  size: number;
}

/**
 * A tus-js-client FileReader that reads each chunk into a Buffer (at most chunkSize bytes
 * in memory per upload) instead of passing a file stream: the request body must be in hand
 * before it is sent, so that its sha256 can go into `Upload-Checksum` (tus-js-client computes
 * no checksums itself). Reads use positioned reads on one file handle.
 */
export class ChunkFileReader {
  async openFile(input: LocalFile, _chunkSize: number) {
    const handle: FileHandle = await open(input.path, 'r');
    const size = input.size;
    return {
      size,
      async slice(start: number, end: number) {
        const stop = Math.min(end, size);
        const buf = Buffer.allocUnsafe(Math.max(0, stop - start));
        let read = 0;
        while (read < buf.length) {
          const { bytesRead } = await handle.read(buf, read, buf.length - read, start + read);
          if (bytesRead === 0) throw new Error(`${input.path} is shorter than it was (${size} bytes): did it change while uploading?`);
          read += bytesRead;
        }
        // tus-js-client reads a chunk's length from `.size` (its Node stack also sets Content-Length from it).
        return { value: Object.assign(buf, { size: buf.length }), done: stop >= size };
      },
      close() {
        void handle.close().catch(() => {});
      },
    };
  }
}

/** tus checksum extension: "Upload-Checksum: <algorithm> <Base64 encoded checksum>". */
function uploadChecksum(body: Uint8Array): string {
  return `sha256 ${createHash('sha256').update(body).digest('base64')}`;
}

/**
 * tus-js-client's Node HTTP stack, with `Upload-Checksum` set on every request that carries
 * bytes (PATCH, or a creation-with-upload POST), hashed from the body just before it is sent.
 */
export class ChecksumHttpStack implements HttpStack {
  private readonly inner = new DefaultHttpStack({});

  createRequest(method: string, url: string): HttpRequest {
    const req = this.inner.createRequest(method, url);
    const send = req.send.bind(req);
    req.send = (body: unknown): Promise<HttpResponse> => {
      if (body instanceof Uint8Array && body.length > 0) req.setHeader('Upload-Checksum', uploadChecksum(body));
      return send(body);
    };
    return req;
  }

  getName(): string {
    return 'ChecksumHttpStack';
  }
}
