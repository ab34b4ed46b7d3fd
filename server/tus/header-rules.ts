import { errors } from '../errors.ts';
import { parseUploadChecksum, type UploadChecksum } from './checksum.ts';
import { parseUploadMetadata, validateUploadMetadata } from './metadata.ts';

export const TUS_VERSION = '1.0.0';
const NON_NEGATIVE_INTEGER = /^(0|[1-9]\d{0,15})$/;
const OFFSET_OCTET_STREAM = 'application/offset+octet-stream';

/** What a header rule may look at besides the header's own value. */
export interface HeaderRequest {
  method: string;
  /** The request carries a body (Content-Length > 0 or Transfer-Encoding). */
  hasBody: boolean;
  /** Reads another header ('' when absent). */
  get(name: string): string;
}

export interface HeaderLimits {
  maxMetadataSize: number;
  /** Refuses at creation an upload whose object the Store could not keep (its key, its metadata), rather than after the last byte. */
  checkNewObject?: (metadata: Record<string, string>) => void;
}

/** What the rules read out of the headers, for the request's later steps. */
export interface CheckedHeaders {
  checksum?: UploadChecksum;
}

interface HeaderRule {
  /** The methods the rule applies to. */
  methods: readonly string[];
  /** Throws the GatewayError the answer is; `value` is '' when the header is absent. */
  check(value: string, req: HeaderRequest, limits: HeaderLimits): void | CheckedHeaders;
}

const isOffsetOctetStream = (value: string) => value.split(';')[0]!.trim().toLowerCase() === OFFSET_OCTET_STREAM;

function nonNegativeInteger(name: string) {
  return (value: string) => {
    if (value !== '' && !NON_NEGATIVE_INTEGER.test(value)) throw errors.invalidArgument(`${name} must be a non-negative integer`);
  };
}

const ALL = ['HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * "If the version specified by the Client is not supported by the Server, it MUST respond
 * with the 412 Precondition Failed status and MUST include the Tus-Version header". Checked
 * before the table (every method but OPTIONS and GET): every answer after it, refusals
 * included, carries `Tus-Resumable`.
 */
export function checkTusVersion(value: string): void {
  if (value !== TUS_VERSION) throw errors.tusVersionRequired(TUS_VERSION);
}

/**
 * Every request header the tus endpoint checks, one rule each, in the order they are
 * checked (as tus-node-server's HeaderValidator: one table of header → validator). Checked
 * here rather than by @tus/server so that each refusal is the gateway's JSON error with the
 * status the protocol names (@tus/server answers `Invalid <header>` as text, and accepts
 * some of these: docs/tus-server-notes.md).
 */
const HEADER_RULES: ReadonlyArray<readonly [header: string, rule: HeaderRule]> = [
  [
    'Content-Type',
    {
      // "All PATCH requests MUST use Content-Type: application/offset+octet-stream, otherwise the server SHOULD return a 415";
      // "A creation-with-upload POST with a body follows the PATCH rules (wrong Content-Type → 415)."
      methods: ['POST', 'PATCH'],
      check: (value, req) => {
        if (isOffsetOctetStream(value)) return;
        if (req.method === 'PATCH') throw errors.unsupportedMediaType(`PATCH requires Content-Type: ${OFFSET_OCTET_STREAM}`);
        if (req.hasBody) throw errors.unsupportedMediaType(`a creation-with-upload body requires Content-Type: ${OFFSET_OCTET_STREAM}`);
      },
    },
  ],
  // "Upload-Length … MUST be a non-negative integer", "Upload-Offset … MUST be a non-negative integer".
  ['Upload-Length', { methods: ALL, check: nonNegativeInteger('Upload-Length') }],
  ['Upload-Offset', { methods: ALL, check: nonNegativeInteger('Upload-Offset') }],
  [
    'Upload-Defer-Length',
    {
      // "Upload-Defer-Length … value MUST be 1"; a creation names its length or defers it.
      methods: ALL,
      check: (value, req) => {
        if (value !== '' && value !== '1') throw errors.invalidArgument('Upload-Defer-Length must be 1');
        if (req.method === 'POST' && value === '' && req.get('Upload-Length') === '') {
          throw errors.invalidArgument('Upload-Length or Upload-Defer-Length: 1 is required');
        }
      },
    },
  ],
  [
    'Upload-Offset',
    {
      methods: ['PATCH'],
      check: (value) => {
        if (value === '') throw errors.invalidArgument('Upload-Offset is required');
      },
    },
  ],
  ['Upload-Checksum', { methods: ['POST', 'PATCH'], check: (value) => ({ checksum: parseUploadChecksum(value) }) }],
  [
    'Upload-Metadata',
    {
      methods: ['POST'],
      check: (value, _req, limits) => {
        if (Buffer.byteLength(value) > limits.maxMetadataSize) {
          throw errors.invalidArgument(`Upload-Metadata is larger than ${limits.maxMetadataSize} bytes`);
        }
        const metadata = parseUploadMetadata(value);
        validateUploadMetadata(metadata);
        limits.checkNewObject?.(metadata);
      },
    },
  ],
];

/** Runs every rule of HEADER_RULES that applies to `req.method`, in order; throws the first refusal. */
export function checkHeaders(req: HeaderRequest, limits: HeaderLimits): CheckedHeaders {
  const checked: CheckedHeaders = {};
  for (const [header, rule] of HEADER_RULES) {
    if (!rule.methods.includes(req.method)) continue;
    Object.assign(checked, rule.check(req.get(header), req, limits));
  }
  return checked;
}
