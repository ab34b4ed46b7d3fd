import { randomBytes } from 'node:crypto';
import { mkdir, open, opendir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Delivery, DeliveryStatus, Outbox } from './events.ts';

const STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'failed'];
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** fsync of a directory: a rename or an unlink is durable only once its directory is (POSIX). */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The outbox of a single gateway without Redis: one JSON file per delivery in
 * `{directory}/{pending,delivered,failed}/`, each written to a temporary file, fsynced,
 * renamed into place and its directory fsynced — a kill -9 leaves the old or the new
 * state, never a torn one, and nothing that was acknowledged is lost.
 *
 * One process owns a directory (several gateways need Redis), so the lease of a claimed
 * delivery is kept in memory: it only has to keep this process's own worker from taking
 * the same delivery twice. The worker reads the directory as a stream and keeps at most
 * one batch in memory, however many deliveries wait.
 */
export class FileOutbox implements Outbox {
  private readonly leases = new Map<string, number>();
  private ready: Promise<unknown> | undefined;
  /**
   * Nothing pending is due before this time (learnt by the last full scan, lowered by every
   * add and reschedule): a backlog for a dead receiver is read once per retry, not per poll.
   */
  private nextDue = 0;
  /** Bumped by every add and reschedule, so that a scan that ran alongside one does not raise nextDue past it. */
  private changes = 0;

  constructor(readonly directory: string) {}

  private dir(status: DeliveryStatus): string {
    return join(this.directory, status);
  }

  private path(status: DeliveryStatus, id: string): string {
    if (!SAFE_ID.test(id)) throw new Error(`unsafe delivery id: ${JSON.stringify(id)}`);
    return join(this.dir(status), `${id}.json`);
  }

  private init(): Promise<unknown> {
    this.ready ??= Promise.all(STATUSES.map((s) => mkdir(this.dir(s), { recursive: true }))).then(() => syncDir(this.directory));
    return this.ready;
  }

  /** Writes deliveries of one status durably: each file fsynced, renamed into place, then their directory fsynced once. */
  private async write(...ds: Delivery[]): Promise<void> {
    if (ds.length === 0) return;
    const dir = this.dir(ds[0]!.status);
    await Promise.all(
      ds.map(async (d) => {
        const tmp = join(dir, `.${d.id}.${randomBytes(6).toString('hex')}.tmp`);
        const fh = await open(tmp, 'w', 0o600);
        try {
          await fh.writeFile(JSON.stringify(d));
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, this.path(d.status, d.id));
      }),
    );
    await syncDir(dir);
  }

  private async read(status: DeliveryStatus, id: string): Promise<Delivery | undefined> {
    try {
      return JSON.parse(await readFile(this.path(status, id), 'utf8')) as Delivery;
    } catch (err) {
      if (isMissing(err) || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }

  private async exists(id: string): Promise<boolean> {
    // The three looked at together: one wait per event emitted, not three.
    return (await Promise.all(STATUSES.map((s) => this.read(s, id)))).some((d) => d !== undefined);
  }

  /** The ids in one status directory, streamed (never the whole listing in memory). */
  private async *ids(status: DeliveryStatus): AsyncGenerator<string> {
    await this.init();
    for await (const entry of await opendir(this.dir(status))) {
      if (entry.isFile() && entry.name.endsWith('.json') && !entry.name.startsWith('.')) yield entry.name.slice(0, -5);
    }
  }

  async add(deliveries: Delivery[]): Promise<void> {
    await this.init();
    const fresh: Delivery[] = [];
    const known = await Promise.all(deliveries.map((d) => this.exists(d.id)));
    for (const [i, d] of deliveries.entries()) if (!known[i]) fresh.push(d);
    await this.write(...fresh);
    // After the write: a scan that ran before it finished may not have seen these files.
    this.changes++;
    this.nextDue = 0;
  }

  async claim(limit: number, leaseMs: number): Promise<Delivery[]> {
    const now = Date.now();
    if (now < this.nextDue) return [];
    const changes = this.changes;
    const out: Delivery[] = [];
    let earliest = Number.POSITIVE_INFINITY;
    let complete = true;
    for await (const id of this.ids('pending')) {
      const lease = this.leases.get(id) ?? 0;
      if (lease > now) {
        earliest = Math.min(earliest, lease);
        continue;
      }
      const d = await this.read('pending', id);
      if (!d) continue;
      if (d.nextAt > now) {
        earliest = Math.min(earliest, d.nextAt);
        continue;
      }
      this.leases.set(id, now + leaseMs);
      out.push(d);
      if (out.length >= limit) {
        complete = false;
        break;
      }
    }
    // Only a scan that saw everything, with nothing added or rescheduled meanwhile, may say when the next is due.
    if (complete && out.length === 0 && changes === this.changes) this.nextDue = earliest;
    for (const [id, until] of this.leases) if (until <= now) this.leases.delete(id);
    return out;
  }

  async defer(id: string, until: number): Promise<void> {
    // The file still says it is due: if the process dies, it is simply due at the restart.
    this.leases.set(id, until);
    this.nextDue = Math.min(this.nextDue, until);
    this.changes++;
  }

  async settle(d: Delivery): Promise<void> {
    await this.init();
    await this.write(d);
    if (d.status === 'pending') {
      this.changes++;
      this.nextDue = Math.min(this.nextDue, d.nextAt);
    }
    else {
      await rm(this.path('pending', d.id), { force: true });
      await syncDir(this.dir('pending'));
    }
    this.leases.delete(d.id);
  }



  async list(status: DeliveryStatus, limit: number): Promise<Delivery[]> {
    const all: Delivery[] = [];
    for await (const id of this.ids(status)) {
      const d = await this.read(status, id);
      if (d) all.push(d);
    }
    return all.sort((a, b) => (b.doneAt ?? b.createdAt) - (a.doneAt ?? a.createdAt)).slice(0, limit);
  }

  async oldestPending(): Promise<number | undefined> {
    let oldest: number | undefined;
    for await (const id of this.ids('pending')) {
      const d = await this.read('pending', id);
      if (d && (oldest === undefined || d.createdAt < oldest)) oldest = d.createdAt;
    }
    return oldest;
  }

  async prune(before: number): Promise<void> {
    for await (const id of this.ids('delivered')) {
      const d = await this.read('delivered', id);
      if (d && (d.doneAt ?? d.createdAt) < before) await rm(this.path('delivered', id), { force: true });
    }
  }

  async close(): Promise<void> {}
}
