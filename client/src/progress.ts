import { formatBytes } from './messages.ts';

/** Speed over the last few seconds (not since the start: a resumed upload would look fast, a stalled one would not look stalled). */
export class RateMeter {
  #samples: Array<{ t: number; bytes: number }> = [];

  constructor(private readonly windowMs = 5000) {}

  /** Records `bytes` sent so far at time `t` (ms); returns bytes per second, 0 until there are two samples. */
  sample(bytes: number, t: number): number {
    const last = this.#samples.at(-1);
    if (last && bytes < last.bytes) this.#samples = []; // a restart or a new batch: old samples lie
    this.#samples.push({ t, bytes });
    while (this.#samples.length > 2 && this.#samples[1]!.t <= t - this.windowMs) this.#samples.shift();
    const first = this.#samples[0]!;
    const span = t - first.t;
    return span > 0 ? ((bytes - first.bytes) / span) * 1000 : 0;
  }

  reset(): void {
    this.#samples = [];
  }
}

export function formatDuration(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  const h = Math.floor(s / 3600);
  return `${h} h ${Math.round((s - h * 3600) / 60)} min`;
}

/** "18.0 MiB of 40 MiB · 15 MiB/s · 2 s left", or a stall notice when nothing moved for a while. */
export function describeProgress(sent: number, total: number, bytesPerSecond: number, stalledMs: number): string {
  const amount = `${formatBytes(sent)} of ${formatBytes(total)}`;
  if (stalledMs >= 3000) return `${amount} · no progress for ${formatDuration(stalledMs / 1000)}: waiting for the connection, it will continue by itself`;
  if (bytesPerSecond <= 0) return amount;
  return `${amount} · ${formatBytes(bytesPerSecond)}/s · ${formatDuration((total - sent) / bytesPerSecond)} left`;
}
