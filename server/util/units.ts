/** Parses sizes like `8MiB`, `20GiB`, `512kB`, `1048576` into bytes (binary and SI units). */
const sizeUnits: Record<string, number> = {
  b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 2 ** 10, kib: 2 ** 10, mi: 2 ** 20, mib: 2 ** 20, gi: 2 ** 30, gib: 2 ** 30, ti: 2 ** 40, tib: 2 ** 40,
};

export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) throw new Error(`not a whole number of bytes: ${input}`);
    return input;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(input);
  const unit = sizeUnits[(m?.[2] ?? '').toLowerCase() || 'b'];
  if (!m || unit === undefined) throw new Error(`not a size: "${input}" (use e.g. 8MiB, 20GiB, 1048576)`);
  const bytes = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new Error(`size out of range: "${input}"`);
  return bytes;
}

/** Parses durations like `24h`, `7d`, `90s`, `500ms`, `1h30m` into milliseconds; a bare number is seconds. */
const durationUnits: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 };

export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new Error(`not a duration: ${input}`);
    return input * 1000;
  }
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * durationUnits[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== text.length) throw new Error(`not a duration: "${input}" (use e.g. 24h, 7d, 90s)`);
  return total;
}
