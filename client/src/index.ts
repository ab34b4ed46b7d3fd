/**
 * The upload widget. One entry for both builds:
 * - `widget.js` (IIFE): `<script src="{gateway}/widget/widget.js">` defines `window.UploadWidget`;
 * - `widget.mjs` (ES module): `import { createUploader } from '{gateway}/widget/widget.mjs'`.
 */
import '@uppy/core/css/style.min.css';
import '@uppy/dashboard/css/style.min.css';
import './widget.css';

export { mountModelList, type ModelListOptions, type MountedModelList } from './model-list.ts';
export { OptionsError, type UploaderOptions, type UploadFailure, type UploadResult, type WidgetOptions } from './options.ts';
export type { ServerInfo } from './server-info.ts';
export { createUploader, type Uploader, type UploaderEvent } from './uploader.ts';
export { mount, type MountedWidget } from './widget.ts';
