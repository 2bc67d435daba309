import type { FastifyInstance } from 'fastify';
import type { ResponseChecker, ResponseViolation } from '../spec/responses.ts';

/** The spec check of every answer (ADR 0032): a test hook, off unless the server is started with it. */
export interface ResponseCheck {
  checker: ResponseChecker;
  /** Where a violation goes (main.ts appends it to `<dataDir>/response-violations.jsonl`). */
  record: (violation: ResponseViolation) => void;
}

/** JSON bodies as sent: a string or a Buffer whose content type says JSON; anything else is not checked. */
function jsonBody(contentType: unknown, payload: unknown): unknown {
  if (typeof contentType !== 'string' || !/json/i.test(contentType)) return undefined;
  const text =
    typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : undefined;
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text; // not JSON although it says so: validated as a string, so a schema expecting an object fails
  }
}

/** Checks each response against the spec as it is sent; never changes what is sent. */
export function registerResponseCheck(app: FastifyInstance, check: ResponseCheck): void {
  app.addHook('onSend', async (request, reply, payload) => {
    try {
      const body = jsonBody(reply.getHeader('content-type'), payload);
      const violation = check.checker.check(request.method, request.url, reply.statusCode, body);
      if (violation !== undefined) check.record(violation);
    } catch (err) {
      request.log.error({ err }, 'response check failed');
    }
    return payload;
  });
}
