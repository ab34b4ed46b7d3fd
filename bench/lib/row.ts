/**
 * What a benchmark row is. Every file in bench/rows/ exports `rows: BenchRow[]`; bench/run.ts
 * loads them all, so a new row is one new file. A row's `rep` runs the gateway and its
 * baseline once each, in the same run, and returns one sample per metric.
 */
import type { GatewayOptions, Proc } from './procs.ts';

export interface BenchOptions {
  /** Bytes of the big transfers (one PATCH, chunked, concurrent in total, the download). */
  size: number;
  reps: number;
  /** Bytes per PATCH of the chunked row. */
  chunk: number;
  /** Clients of the concurrent and soak rows. */
  clients: number;
  /** Seconds of the soak. */
  soakSeconds: number;
  /** Uploads of the small-upload row, and GETs of the range row. */
  count: number;
  gateway: GatewayOptions['from'];
}

export interface BenchContext {
  options: BenchOptions;
  /** A fresh directory for this rep's data (removed after the run). */
  tempDir(): Promise<string>;
  /** The gateway (file datastore + localfs unless `overlay`/`env` say otherwise), built as `options.gateway` says. */
  gateway(extra?: Omit<GatewayOptions, 'from'>): Promise<Proc>;
  bareTus(): Promise<Proc>;
  bareFiles(directory: string): Promise<Proc>;
  /** A line of progress (printed indented). */
  note(line: string): void;
}

export interface Metric {
  id: string;
  title: string;
  unit: string;
  /** The target as printed, e.g. `ratio ≥ 0.9` or `< 200 MiB`. */
  target: string;
  /** Whether the medians meet the target. */
  met(value: number, ratio: number): boolean;
}

/** One measurement: the gateway's figure and its baseline's, in `unit`. */
export interface Sample {
  value: number;
  baseline: number;
}

export interface BenchRow {
  id: string;
  metrics: Metric[];
  /** Why the row is absent or cannot run here, or undefined when it can. */
  unavailable?(options: BenchOptions): string | undefined;
  rep(ctx: BenchContext, rep: number): Promise<Record<string, Sample>>;
}

/** Runs gateway and baseline in alternating order, so neither side always goes first. */
export async function alternate<T>(rep: number, gateway: () => Promise<T>, baseline: () => Promise<T>): Promise<{ gateway: T; baseline: T }> {
  if (rep % 2 === 0) {
    const g = await gateway();
    return { gateway: g, baseline: await baseline() };
  }
  const b = await baseline();
  return { gateway: await gateway(), baseline: b };
}

/**
 * Gateway and baseline twice each, in ABBA order (or BAAB: it flips with `rep`): a drift of the
 * machine's speed across the four runs (another tenant's load, writeback, the host's memory)
 * falls on both sides alike, where one run each measured it on one side only (run 22's download
 * reps, one download a side: 0.76, 1.80, 0.86).
 */
export async function abba<T>(rep: number, gateway: () => Promise<T>, baseline: () => Promise<T>): Promise<{ gateway: [T, T]; baseline: [T, T] }> {
  const first = await alternate(rep, gateway, baseline);
  const second = await alternate(rep + 1, gateway, baseline);
  return { gateway: [first.gateway, second.gateway], baseline: [first.baseline, second.baseline] };
}

export const median = (xs: number[]): number => quantile(xs, 0.5);

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
}
