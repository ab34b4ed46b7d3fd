import { Server } from '@tus/server';
import type { CancellationContext } from '@tus/utils';
import { errors } from '../errors.ts';

const JSON_TYPE = 'application/json; charset=utf-8';

/** Already `{"error":{"code","message"}}`: what onResponseError made of a GatewayError. */
function isJsonError(body: string): boolean {
  if (!body.startsWith('{')) return false;
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown } };
    return typeof parsed.error?.code === 'string';
  } catch {
    return false;
  }
}

/** A tus error answer (`status`, text `body`) as the gateway's JSON error. */
export function tusErrorJson(status: number, body: string): string {
  if (isJsonError(body)) return body;
  // @tus/server's ERRORS carry a status and a text body, no code: errors.fromTus names it.
  return JSON.stringify(errors.fromTus({ status_code: status, body }).toJSON());
}

/**
 * @tus/server whose error answers are JSON, as everywhere else in the gateway. Every error
 * answer of @tus/server 2.x goes through `Server.write()` (the handlers' failures via its
 * onError → onResponseError, and its own 412, 400 and 404), which builds a fetch Response from
 * a string and so labels it `text/plain`. Here the label and the body are made JSON at that
 * one place; success answers (the handlers' own BaseHandler.write) are untouched.
 */
export class JsonErrorServer extends Server {
  override async write(context: CancellationContext, headers: Headers, status: number, body = '') {
    if (status >= 400) {
      headers.set('Content-Type', JSON_TYPE);
      return super.write(context, headers, status, tusErrorJson(status, body));
    }
    return super.write(context, headers, status, body);
  }
}
