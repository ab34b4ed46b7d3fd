import { fdatasync } from 'node:fs';
import { fsyncDir } from '../util/small-files.ts';
import { native } from './native-addon.ts';

/**
 * Group commit: a flush asked for while another is running joins the next round, and a
 * round flushes all its files together — with the addon in one pool job that starts the
 * writeback of every file before it waits for any (native-addon.ts: flushAsync), so
 * concurrent uploads share their journal commits instead of queueing one behind another
 * for the pool's four threads. A round starts at once when none runs: a lone upload waits
 * for nothing but its own flush.
 */
class GroupFlusher {
  private queue: { fd: number; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private running = false;

  /** fdatasync(fd), in the next round. The caller keeps `fd` open until this settles. */
  flush(fd: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ fd, resolve, reject });
      if (!this.running) void this.rounds();
    });
  }

  private async rounds(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length) {
        const round = this.queue;
        this.queue = [];
        const fds = [...new Set(round.map((w) => w.fd))];
        const results = await flushAll(fds).catch((err: unknown) => fds.map(() => err));
        const byFd = new Map(fds.map((fd, i) => [fd, results[i]]));
        for (const w of round) {
          const err = byFd.get(w.fd);
          if (err) w.reject(err);
          else w.resolve();
        }
      }
    } finally {
      this.running = false;
    }
  }
}

const fdatasyncP = (fd: number) => new Promise<unknown>((resolve) => fdatasync(fd, (err) => resolve(err ?? null)));

async function flushAll(fds: number[]): Promise<unknown[]> {
  if (native) return native.flushAsync(fds);
  return Promise.all(fds.map(fdatasyncP));
}

/** One per process: the disk is one. */
export const groupFlusher = new GroupFlusher();

/** Runs `task` so that calls made while it runs share the one run after it. */
class Coalesced {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  constructor(private readonly task: () => Promise<void>) {}

  run(): Promise<void> {
    if (!this.running) return this.start();
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.start();
      });
    return this.next;
  }

  private start(): Promise<void> {
    const p: Promise<void> = this.task().finally(() => {
      if (this.running === p) this.running = undefined;
    });
    this.running = p;
    return p;
  }
}

/** One per directory the records live in: a handful. */
const dirSyncs = new Map<string, Coalesced>();

/**
 * fsync of a directory, so that a rename into it is durable (a rename is in the
 * directory, not in the file). Calls for the same directory while one runs share the
 * next fsync: N records renamed together cost two directory flushes, not N.
 */
export function syncDirectory(dir: string): Promise<void> {
  let c = dirSyncs.get(dir);
  if (!c) dirSyncs.set(dir, (c = new Coalesced(() => fsyncDir(dir))));
  return c.run();
}
