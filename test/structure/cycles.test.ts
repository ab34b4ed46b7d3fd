import madge from 'madge';
import { describe, expect, it } from 'vitest';
import { ROOT } from './source-files.ts';

describe('the module graph', () => {
  it('has no import cycle in server/, cli/ or client/src/', async () => {
    const graph = await madge(['server', 'cli', 'client/src'], { baseDir: ROOT, fileExtensions: ['ts'] });
    // The graph really was read: app.ts imports the routes, which import the deps module.
    const deps = graph.obj();
    expect(deps['server/app.ts']).toContain('server/http/routes.ts');
    expect(deps['server/http/routes.ts']).toContain('server/http/deps.ts');
    expect(graph.circular()).toEqual([]);
  }, 60_000);
});
