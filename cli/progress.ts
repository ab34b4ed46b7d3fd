import cliProgress from 'cli-progress';
import type { Context } from './context.ts';

/** One file's line: what it does now (hashing, uploading, downloading, verifying), bytes done, speed, time left. */
export interface ProgressLine {
  phase(name: string, total: number, done?: number): void;
  update(done: number): void;
  stop(): void;
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
export function formatBytes(n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

const NOOP: ProgressLine = { phase() {}, update() {}, stop() {} };

/**
 * Progress bars on stderr, one line per file, through cli-progress (it owns the terminal
 * redraw). With --json, --quiet or when stderr is not a terminal there are no bars.
 */
export class Progress {
  private readonly bars: cliProgress.MultiBar | undefined;

  constructor(ctx: Context) {
    this.bars = ctx.interactive
      ? new cliProgress.MultiBar(
          {
            format: '{name} {phase} [{bar}] {percentage}% {done}/{size} {speed}/s ETA {eta_formatted}',
            barsize: 24,
            hideCursor: true,
            clearOnComplete: false,
            stopOnComplete: false,
            etaBuffer: 40,
            fps: 8,
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  }

  line(name: string): ProgressLine {
    const bars = this.bars;
    if (!bars) return NOOP;
    const bar = bars.create(1, 0, { name, phase: '', done: '0 B', size: '0 B', speed: '0 B' });
    // Speed over a sliding window of samples, so a pause shows as a slowdown rather than an average.
    let samples: Array<{ t: number; v: number }> = [];
    let total = 1;
    return {
      phase(phaseName, t, done = 0) {
        total = Math.max(1, t);
        samples = [{ t: Date.now(), v: done }];
        bar.setTotal(total);
        bar.update(done, { phase: phaseName.padEnd(11), done: formatBytes(done), size: formatBytes(t), speed: '0 B' });
      },
      update(done) {
        const now = Date.now();
        samples.push({ t: now, v: done });
        while (samples.length > 2 && now - samples[0]!.t > 5000) samples.shift();
        const first = samples[0]!;
        const rate = now > first.t ? ((done - first.v) * 1000) / (now - first.t) : 0;
        bar.update(Math.min(done, total), { done: formatBytes(done), speed: formatBytes(Math.max(0, rate)) });
      },
      stop() {
        bar.stop();
      },
    };
  }

  /** A message line on stderr that does not tear the bars (cli-progress prints it above them). */
  log(message: string): void {
    if (this.bars) this.bars.log(`${message}\n`);
    else process.stderr.write(`${message}\n`);
  }

  stop(): void {
    this.bars?.stop();
  }
}
