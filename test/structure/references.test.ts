import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, sourceFiles } from './source-files.ts';

const TEXT = ['.ts', '.js', '.mjs', '.md', '.sh', '.yaml', '.yml', '.css', '.html'];
const files: Array<[string, string]> = [
  ...['server', 'client/src', 'cli', 'test', 'docs'].flatMap((dir) => sourceFiles(dir, TEXT)),
  ['README.md', readFileSync(join(ROOT, 'README.md'), 'utf8')],
];

/** Each line of each file that matches `pattern`, as `path:line: text`. */
function hits(pattern: RegExp): string[] {
  const out: string[] = [];
  for (const [path, text] of files) {
    // This file names the patterns it looks for.
    if (path === 'test/structure/references.test.ts') continue;
    text.split('\n').forEach((line, i) => {
      if (pattern.test(line)) out.push(`${path}:${i + 1}: ${line.trim()}`);
    });
  }
  return out;
}

describe('comments, README and docs point only inside the repository', () => {
  it('reads the tree it checks', () => {
    expect(files.length).toBeGreaterThan(150);
    expect(files.some(([p]) => p === 'docs/api.md')).toBe(true);
  });

  it('no reference to a document outside the repository', () => {
    expect(hits(/\.\.\/shared\b|\/work\/shared|(?<!docs\/)API\.md|TUS-NOTES|S3-TEST-SERVER|(?<![\w/])STYLE\.md/)).toEqual([]);
  });

  it('every docs/api.md §n names a section of docs/api.md', () => {
    const api = readFileSync(join(ROOT, 'docs/api.md'), 'utf8');
    const sections = new Set([...api.matchAll(/^## (\d+)\./gm)].map((m) => m[1]));
    expect(sections.size).toBeGreaterThan(5);
    const cited = files.flatMap(([path, text]) => [...text.matchAll(/docs\/api\.md §(\d+)/g)].map((m) => [path, m[1]!] as const));
    expect(cited.length).toBeGreaterThan(20);
    expect(cited.filter(([, n]) => !sections.has(n))).toEqual([]);
  });

  it('every docs/tus-server-notes.md #n names a row of its table', () => {
    const notes = readFileSync(join(ROOT, 'docs/tus-server-notes.md'), 'utf8');
    const rows = new Set([...notes.matchAll(/^\| (\d+) \|/gm)].map((m) => m[1]));
    expect(rows.size).toBeGreaterThan(10);
    const cited = files.flatMap(([path, text]) => [...text.matchAll(/docs\/tus-server-notes\.md #(\d+)/g)].map((m) => [path, m[1]!] as const));
    expect(cited.length).toBeGreaterThan(5);
    expect(cited.filter(([, n]) => !rows.has(n))).toEqual([]);
  });

  it('every docs/*.md a file names exists', () => {
    const named = new Set(files.flatMap(([, text]) => [...text.matchAll(/\bdocs\/([\w-]+\.md)\b/g)].map((m) => m[1]!)));
    expect(named.size).toBeGreaterThan(3);
    expect([...named].filter((name) => !existsSync(join(ROOT, 'docs', name)))).toEqual([]);
  });
});
