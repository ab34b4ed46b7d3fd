import Dashboard from '@uppy/dashboard';
import type { Credentials } from './credentials.ts';
import { authorizeDownload } from './download.ts';
import { ensureStylesheet, h, resolveElement } from './dom.ts';
import { findInterrupted, forgetInterrupted, type InterruptedUpload } from './interrupted.ts';
import { formatBytes } from './messages.ts';
import { describeProgress, RateMeter } from './progress.ts';
import { OptionsError, resolveOptions, type UploadResult, type WidgetOptions } from './options.ts';
import type { ServerInfo } from './server-info.ts';
import { createUploaderFrom, type Uploader } from './uploader.ts';

export interface MountedWidget {
  readonly uploader: Uploader;
  unmount(): void;
}

/**
 * `UploadWidget.mount(element, { apiBase, owner?, allowedFileTypes?, maxFileSize?, onComplete? })`:
 * the Dashboard (drop area, progress, speed, time left), uploads left unfinished by an
 * earlier visit, and each finished object's key, download link and sha256.
 * Throws at once on a bad option or element.
 */
export function mount(target: Element | string, options: WidgetOptions): MountedWidget {
  const opts = resolveOptions(options);
  const host = resolveElement(target, 'mount()');
  if (opts.stylesheet !== false) ensureStylesheet(opts.stylesheet ?? `${opts.apiBase}/widget/widget.css`);

  const dashboardHost = h('div', { class: 'upw-dashboard' });
  // Uppy's status bar shows percent and a rough ETA; this line adds the speed, in the same units as the rest.
  const progress = h('p', { class: 'upw-progress', hidden: true });
  const alert = h('p', { class: 'upw-alert', role: 'alert', hidden: true });
  const interruptedList = h('ul', { class: 'upw-list' });
  const interrupted = h(
    'section',
    { class: 'upw-interrupted', 'aria-label': 'Unfinished uploads', hidden: true },
    h('p', { class: 'upw-heading' }, 'Unfinished uploads'),
    h('p', { class: 'upw-hint' }, 'Add the same file again to continue from where it stopped.'),
    interruptedList,
  );
  const resultList = h('ul', { class: 'upw-list' });
  const finished = h(
    'section',
    { class: 'upw-results', 'aria-label': 'Finished uploads', 'aria-live': 'polite', hidden: true },
    h('p', { class: 'upw-heading' }, 'Uploaded'),
    resultList,
  );
  const root = h('div', { class: 'upw', 'data-upload-widget': true, 'data-theme': opts.theme }, dashboardHost, progress, alert, interrupted, finished);
  host.replaceChildren(root);

  const uploader = createUploaderFrom(opts);
  const { uppy } = uploader;
  uppy.use(Dashboard, {
    inline: true,
    target: dashboardHost,
    width: '100%',
    height: opts.height,
    theme: opts.theme,
    proudlyDisplayPoweredByUppy: false,
    hideProgressDetails: true,
    singleFileFullScreen: false, // model files have no preview: a compact row beats a big grey card
    fileManagerSelectionType: 'files',
    showRemoveButtonAfterComplete: true,
    note: 'Connecting to the upload server…',
  });

  const showAlert = (message: string | null) => {
    alert.textContent = message ?? '';
    alert.hidden = !message;
  };

  const unsubscribe = uploader.subscribe((event) => {
    if (event.type === 'ready') {
      uppy.getPlugin('Dashboard')?.setOptions({ note: noteFor(event.server, opts.allowedFileTypes, opts.maxFileSize) });
      void showInterrupted(event.server);
    } else if (event.type === 'success') {
      showAlert(null);
      finished.hidden = false;
      resultList.prepend(resultItem(event.result, opts.apiBase, uploader.credentials));
    } else if (event.type === 'error') {
      showAlert(event.failure.message);
    }
  });
  uploader.ready().catch((err: Error) => {
    // A bad option only the server can reveal (chunkSize vs its part size) is final; a network failure is not.
    showAlert(err instanceof OptionsError ? err.message : `${err.message}. Click Upload to try again.`);
    uppy.getPlugin('Dashboard')?.setOptions({ note: null });
  });
  // Failures before any byte moves (the pre-processor could not read the server's config) come as 'error'.
  uppy.on('error', (err) => showAlert(err.message));
  // Adding the file an unfinished upload was made of resumes it: its hint has done its job.
  uppy.on('file-added', (file) => {
    interruptedList.querySelector(`[data-name="${CSS.escape(`${file.name}:${file.size}`)}"]`)?.remove();
    interrupted.hidden = interruptedList.childElementCount === 0;
    showAlert(null);
  });

  const meter = new RateMeter();
  let lastSent = -1;
  let lastMove = 0;
  let ticker: ReturnType<typeof setInterval> | undefined;
  function showProgress() {
    const active = uppy.getFiles().filter((f) => f.progress.uploadStarted && !f.progress.uploadComplete && !f.error && !f.isPaused);
    if (active.length === 0) {
      progress.hidden = true;
      meter.reset();
      lastSent = -1;
      clearInterval(ticker);
      ticker = undefined;
      return;
    }
    const sent = active.reduce((n, f) => n + (f.progress.bytesUploaded || 0), 0);
    const total = active.reduce((n, f) => n + (f.progress.bytesTotal ?? f.size ?? 0), 0);
    const now = Date.now();
    if (sent !== lastSent) [lastSent, lastMove] = [sent, now];
    progress.textContent = describeProgress(sent, total, meter.sample(sent, now), now - lastMove);
    progress.hidden = false;
    // Ticks also when no progress event comes: that is how a stall becomes visible.
    ticker ??= setInterval(showProgress, 1000);
  }
  uppy.on('upload-progress', showProgress);
  for (const event of ['complete', 'cancel-all', 'pause-all', 'upload-error'] as const) uppy.on(event, showProgress);

  async function showInterrupted(server: ServerInfo) {
    const uploads = await findInterrupted(opts.apiBase, opts.id, opts.endpoint ?? server.tusEndpoint, opts.owner, uploader.credentials);
    const inUppy = new Set(uppy.getFiles().map((f) => `${f.name}:${f.size}`));
    interruptedList.replaceChildren(...uploads.filter((u) => !inUppy.has(`${u.fileName}:${u.size}`)).map(interruptedItem));
    interrupted.hidden = interruptedList.childElementCount === 0;
  }

  function interruptedItem(upload: InterruptedUpload): HTMLLIElement {
    const forget = h('button', { type: 'button', class: 'upw-button' }, 'Discard');
    forget.setAttribute('aria-label', `Discard the unfinished upload of ${upload.fileName}`);
    const item = h(
      'li',
      { 'data-name': `${upload.fileName}:${upload.size}` },
      h('span', { class: 'upw-name' }, upload.fileName),
      h('span', { class: 'upw-meta' }, `${formatBytes(upload.offset)} of ${formatBytes(upload.size)} on the server`),
      forget,
    );
    forget.addEventListener('click', () => {
      item.remove();
      interrupted.hidden = interruptedList.childElementCount === 0;
      void forgetInterrupted(upload);
    });
    return item;
  }

  return {
    uploader,
    unmount() {
      clearInterval(ticker);
      unsubscribe();
      uploader.destroy();
      root.remove();
    },
  };
}

function noteFor(server: ServerInfo, types: readonly string[] | null, maxFileSize: number | null): string {
  const limit = Math.min(maxFileSize ?? Infinity, server.maxSize);
  return `Up to ${formatBytes(limit)}${types ? ` · ${types.join(', ')}` : ''} · resumes after a lost connection or a reload`;
}

function resultItem(result: UploadResult, apiBase: string, credentials: Credentials): HTMLLIElement {
  return h(
    'li',
    { class: 'upw-result', 'data-key': result.key },
    h('span', { class: 'upw-name' }, result.fileName),
    h('span', { class: 'upw-meta' }, formatBytes(result.size)),
    authorizeDownload(h('a', { class: 'upw-button', href: result.downloadUrl, download: true }, 'Download', h('span', { class: 'upw-sr' }, ` ${result.fileName}`)), apiBase, result.key, credentials),
    h('dl', { class: 'upw-facts' },
      h('dt', {}, 'Key'),
      h('dd', {}, h('code', { class: 'upw-key' }, result.key)),
      h('dt', {}, 'sha256'),
      h('dd', {}, result.sha256 ? h('code', { class: 'upw-hash' }, result.sha256) : 'not available'),
    ),
  );
}
