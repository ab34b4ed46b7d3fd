import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { collectConsole, launchChromium, newContext, screenshot } from '../client/support/browser.ts';
import { ensureWidgetBuilt } from '../client/support/build.ts';
import { randomFile } from '../client/support/files.ts';
import { addAndUpload, FILE_INPUT, openWidget, UPLOAD_BUTTON } from '../client/support/widget-page.ts';
import { encodeMetadata, patch, raw, tusHeaders } from '../gateway/pairings.ts';
import { bearer, KEYS, startAuthGateway, type AuthGateway } from './support.ts';

/** The widget and the demo page against a gateway in auth.mode token, in headless Chromium. */
const SECRET = 'widget-browser-test-jwt-secret-0123456789';
const jwt = (sub: string, exp: number | string = '5m') =>
  new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(exp).sign(new TextEncoder().encode(SECRET));

let gw: AuthGateway;
let full: AuthGateway; // limits.diskReserve larger than any disk: every creation is 507
let browser: Browser;
let partnerSite: Server;
let partnerOrigin: string;
let partnerPage = '';

beforeAll(async () => {
  ensureWidgetBuilt();
  [gw, full, browser] = await Promise.all([
    startAuthGateway('file+localfs', { auth: { jwt: { secret: SECRET } } }),
    startAuthGateway('file+localfs', { limits: { diskReserve: '4000TiB' } }),
    launchChromium(),
  ]);
  // Another origin that embeds the widget (CORS with Authorization); the test writes its page.
  partnerSite = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(partnerPage));
  await new Promise<void>((r) => partnerSite.listen(0, '127.0.0.1', r));
  partnerOrigin = `http://127.0.0.1:${(partnerSite.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  if (partnerSite) {
    partnerSite.closeAllConnections();
    await new Promise((r) => partnerSite.close(r));
  }
  await browser?.close();
  await Promise.all([gw?.close(), full?.close()]);
});

let current: { page: Page; console: string[]; context: BrowserContext } | undefined;
/** A fresh profile and page; afterEach screenshots it if the test failed, then closes it. */
async function freshPage(): Promise<{ page: Page; console: string[] }> {
  const context = await newContext(browser);
  const page = await context.newPage();
  current = { page, console: collectConsole(page), context };
  return current;
}

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && current) {
    await screenshot(current.page, `failed-${ctx.task.name.replace(/\W+/g, '-')}`).catch(() => undefined);
    console.error(`browser console of "${ctx.task.name}":\n${current.console.join('\n')}`);
  }
  await current?.context.close();
  current = undefined;
});

describe('the widget with credentials, in Chromium', { timeout: 120_000 }, () => {
  it('the demo page asks for a token, shows the owner it acts for, and uploads with it', async () => {
    const { page } = await freshPage();
    const authorized: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/files') && r.method() !== 'OPTIONS') authorized.push(`${r.method()} ${r.headers().authorization ?? 'none'}`);
    });
    await page.goto(`${gw.url}/`);
    const identity = page.locator('#identity');
    await expect.poll(() => identity.innerText()).toBe('This gateway needs a credential: paste a token (a JWT from your issuer, or a ugw_… API key).');
    expect(await page.locator('#uploader').innerHTML()).toBe(''); // no widget without a credential
    await screenshot(page, 'auth-demo-needs-token');

    await page.fill('#token', 'ugw_not-a-known-key');
    await page.click('#signin button[type=submit]');
    await expect.poll(() => identity.innerText()).toMatch(/^The token was not accepted: The API key is not known\. Paste another one\./);

    await page.fill('#token', KEYS.alice);
    await page.click('#signin button[type=submit]');
    await openWidget(page, page.url());
    expect(await identity.innerText()).toMatch(/^Signed in as alice \(upload, read, delete\)\./);
    expect(await page.locator('#owner-form').isHidden()).toBe(true); // the owner comes from the credential
    expect(page.url()).not.toContain(KEYS.alice); // never in the address (it would reach logs and history)

    const file = await randomFile('signed-in.onnx', 300_000);
    await addAndUpload(page, file.path);
    await page.locator('.upw-result[data-key="models/alice/signed-in.onnx"]').waitFor();
    // The model list shows alice's own prefix (a list of models/ would be 403 for her).
    await page.locator('#models tr[data-key="models/alice/signed-in.onnx"]').waitFor();
    await screenshot(page, 'auth-demo-signed-in');
    // A plain link cannot carry the token: the download goes through a presigned GET (a /storage URL here).
    const download = page.waitForEvent('download');
    await page.click('#models tr[data-key="models/alice/signed-in.onnx"] a[download]');
    const got = await download;
    expect(new URL(got.url()).pathname).toBe('/storage/models/alice/signed-in.onnx');
    expect(createHash('sha256').update(await readFile((await got.path())!)).digest('hex')).toBe(file.sha256);
    expect(authorized.length).toBeGreaterThanOrEqual(2);
    for (const line of authorized) expect(line).toBe(`${line.split(' ')[0]} Bearer ${KEYS.alice}`);
    const stored = await raw(`${gw.url}/api/objects/models/alice/signed-in.onnx`, { method: 'HEAD', headers: bearer(KEYS.alice) });
    expect(stored.status).toBe(200);
    expect(stored.headers['content-length']).toBe(String(file.size));
  });

  it('getToken() is asked again after a 401 (an expired token), from another origin (CORS with Authorization)', async () => {
    const { page } = await freshPage();
    const expired = await jwt('erin', Math.floor(Date.now() / 1000) - 3600);
    const good = await jwt('erin');
    partnerPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partner</title></head><body><div id="up"></div>
<script src="${gw.url}/widget/widget.js"></script>
<script>
var tokens = ${JSON.stringify([expired, good])};
window.calls = 0;
window.demo = UploadWidget.mount('#up', { apiBase: '${gw.url}', getToken: function () { return Promise.resolve(tokens[Math.min(window.calls++, 1)]); },
  onComplete: function (r) { window.completed = r; } });
</script></body></html>`;
    const statuses: string[] = [];
    page.on('response', (r) => {
      if (new URL(r.url()).pathname === '/files/' && r.request().method() === 'POST') statuses.push(String(r.status()));
    });
    const file = await randomFile('refreshed.bin', 200_000);
    await openWidget(page, `${partnerOrigin}/`);
    await addAndUpload(page, file.path);
    await page.waitForFunction(() => (window as any).completed, undefined, { timeout: 60_000 });
    const [result] = await page.evaluate(() => (window as any).completed);
    expect(result).toMatchObject({ key: 'models/erin/refreshed.bin', size: file.size, sha256: file.sha256 });
    expect(statuses).toEqual(['401', '201']);
    expect(await page.evaluate(() => (window as any).calls)).toBe(2);
  });

  it('refusals read as clear messages: another owner (403), an existing key (409), a full disk (507)', async () => {
    const { page } = await freshPage();
    const alert = page.locator('.upw-alert');
    // 403: the page names an owner the token does not prove.
    partnerPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partner</title></head><body><div id="up"></div>
<script src="${gw.url}/widget/widget.js"></script>
<script>window.demo = UploadWidget.mount('#up', { apiBase: '${gw.url}', owner: 'bob', token: '${KEYS.alice}' });</script></body></html>`;
    const file = await randomFile('refused.bin', 10_000);
    await openWidget(page, `${partnerOrigin}/`);
    await addAndUpload(page, file.path);
    await expect.poll(() => alert.innerText(), { timeout: 30_000 }).toBe(
      'You are not allowed to upload “refused.bin” here (your credential does not give that right). The server said: This credential may not upload for owner bob.',
    );

    // 409: the same file name again, for alice, where it exists (storage.overwrite deny).
    const first = await raw(`${gw.url}/files`, { method: 'POST', headers: tusHeaders({ ...bearer(KEYS.alice), 'Upload-Length': '1', 'Upload-Metadata': encodeMetadata({ filename: 'taken.bin' }) }) });
    expect(first.status).toBe(201);
    expect((await patch(new URL(String(first.headers.location), gw.url).href, 0, Buffer.from('x'), bearer(KEYS.alice))).status).toBe(204);
    partnerPage = partnerPage.replace("owner: 'bob', ", '');
    const taken = await randomFile('taken.bin', 10_000);
    await openWidget(page, `${partnerOrigin}/`);
    await page.setInputFiles(FILE_INPUT, taken.path);
    await page.click(UPLOAD_BUTTON);
    await expect.poll(() => alert.innerText(), { timeout: 30_000 }).toMatch(
      /^“taken\.bin” already exists on the server, or is being uploaded right now, and it is not replaced unless asked for\. Rename the file, or ask for it to be replaced\. The server said: models\/alice\/taken\.bin: an object exists at this key/,
    );
    await screenshot(page, 'auth-widget-409');

    // 507: a gateway whose disk reserve no disk has.
    partnerPage = partnerPage.replaceAll(gw.url, full.url);
    await openWidget(page, `${partnerOrigin}/`);
    await addAndUpload(page, file.path);
    await expect.poll(() => alert.innerText(), { timeout: 30_000 }).toMatch(
      /^The upload server is out of storage space for “refused\.bin”\. Nothing was stored; try again later\. The server said: Not enough disk/,
    );
    await screenshot(page, 'auth-widget-507');
  });
});
