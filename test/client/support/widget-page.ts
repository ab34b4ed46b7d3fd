import type { Page } from 'playwright-core';
import { startGateway, type InProcessGateway } from '../../support/gateway.ts';

/**
 * A real gateway on 127.0.0.1:random with data in a temp dir; `tusYaml` is merged under `tus:`
 * (e.g. `maxSize: 1MiB`), `env` overrides as in docs/api.md §1 (e.g. `TUS_DATASTORE: 's3'`).
 */
export function startWidgetGateway(tusYaml = '', env: Record<string, string> = {}): Promise<InProcessGateway> {
  return startGateway({ env: { SIGNING_SECRET: 'widget-tests-signing-secret-32-bytes!', ...env }, yaml: tusYaml ? `tus: { ${tusYaml} }` : '' });
}

export interface UploadStatus {
  id: string;
  offset: number;
  length?: number;
  status: string;
  key?: string;
}

/** `GET /api/uploads/{id}` — never HEAD: HEAD takes the tus lock and can abort the browser's PATCH (docs/tus-server-notes.md #12). */
export async function uploadStatus(gateway: string, uploadUrl: string): Promise<UploadStatus> {
  const id = uploadUrl.split('/').filter(Boolean).pop()!;
  const res = await fetch(`${gateway}/api/uploads/${id}`);
  if (!res.ok) throw new Error(`GET /api/uploads/${id}: ${res.status} ${await res.text()}`);
  return (await res.json()) as UploadStatus;
}

/** Polls until the server holds at least `bytes` of the upload. */
export async function waitForServerOffset(gateway: string, uploadUrl: () => string, bytes: number, timeoutMs = 30_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (uploadUrl()) {
      const { offset } = await uploadStatus(gateway, uploadUrl());
      if (offset >= bytes) return offset;
    }
    if (Date.now() > until) throw new Error(`server offset did not reach ${bytes} in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The server's offset once it stops moving (an aborted PATCH may still be writing its last bytes). */
export async function settledOffset(gateway: string, uploadUrl: string): Promise<number> {
  let last = -1;
  for (;;) {
    const { offset } = await uploadStatus(gateway, uploadUrl);
    if (offset === last) return offset;
    last = offset;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** What the browser said to the tus endpoint: creations, and the Upload-Offset of every PATCH. */
export interface TusTraffic {
  posts: number;
  patchOffsets: number[];
  /** Upload-Offset answered by each HEAD (a resume asks it first). */
  headOffsets: number[];
  uploadUrl: string;
  /** Response headers of the last successful PATCH. */
  lastPatchHeaders: Record<string, string>;
}

export function trackTus(page: Page): TusTraffic {
  const t: TusTraffic = { posts: 0, patchOffsets: [], headOffsets: [], uploadUrl: '', lastPatchHeaders: {} };
  const isTus = (url: string) => new URL(url).pathname.startsWith('/files');
  page.on('request', (r) => {
    if (!isTus(r.url())) return;
    if (r.method() === 'POST') t.posts++;
    if (r.method() === 'PATCH') t.patchOffsets.push(Number(r.headers()['upload-offset']));
  });
  page.on('response', (r) => {
    if (!isTus(r.url())) return;
    const method = r.request().method();
    const headers = r.headers();
    if (method === 'POST' && headers.location) t.uploadUrl = new URL(headers.location, r.url()).href;
    if (method === 'HEAD' && headers['upload-offset']) t.headOffsets.push(Number(headers['upload-offset']));
    if (method === 'PATCH' && r.status() === 204) t.lastPatchHeaders = headers;
  });
  return t;
}

export const FILE_INPUT = 'input.uppy-Dashboard-input[name="files[]"]';
export const UPLOAD_BUTTON = '.uppy-StatusBar-actionBtn--upload';

/** Opens a page and waits until the widget knows the server's limits (its note says "Up to …"). */
export async function openWidget(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.locator('.uppy-Dashboard-note', { hasText: 'Up to' }).waitFor();
}

export async function addAndUpload(page: Page, path: string): Promise<void> {
  await page.setInputFiles(FILE_INPUT, path);
  await page.click(UPLOAD_BUTTON);
}

/** Upload progress in percent, from the widget's Uppy (exposed by the demo page as `window.demo`). */
export function waitForProgress(page: Page, percent: number): Promise<unknown> {
  return page.waitForFunction((p) => ((window as any).demo?.uploader.uppy.getState().totalProgress ?? 0) >= p, percent, { polling: 50 });
}
