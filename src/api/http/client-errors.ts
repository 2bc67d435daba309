import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { DomainError } from '../../domain/errors.ts';
import type { WireError } from './errors.ts';
import { surfaceOf } from './surface.ts';

/** What Node's HTTP parser hands over with a request it refused. */
interface ParserError {
  code?: string;
  /** The bytes received so far (a Buffer at run time, whatever the typings say). */
  rawPacket?: unknown;
}

/** The path of the latest request line seen on each connection (a refused request may not carry its own). */
const lastPath = new WeakMap<Socket, string>();
const REQUEST_LINE = /^[A-Z]{3,7} (\S+) HTTP\//;

/**
 * Remembers the path of each request line the connection sends, so that a request the parser refuses part-way
 * (its headers too large) is still answered in its surface's envelope. Called once per connection.
 */
export function trackRequestLines(socket: Socket): void {
  socket.on('data', (chunk: Buffer) => {
    const m = REQUEST_LINE.exec(chunk.subarray(0, 2048).toString('latin1'));
    if (m?.[1] !== undefined) lastPath.set(socket, m[1]);
  });
}

/** The domain error and status for a request the HTTP parser refused. */
function refusalOf(err: ParserError): { status: number; error: DomainError } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        error: new DomainError(
          'invalid-input',
          'RequestHeaderFieldsTooLarge',
          'The request line or its headers are larger than the server accepts.',
        ),
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        error: new DomainError('invalid-input', 'RequestTimeout', 'The request was not received in time.'),
      };
    default:
      return {
        status: 400,
        error: new DomainError(
          'invalid-input',
          'InvalidRequestContent',
          `The request could not be read (${err.code ?? 'malformed'}): its framing (request line, headers, Content-Length) is invalid.`,
        ),
      };
  }
}

/**
 * Answers a request Node's HTTP parser refused (431 for oversized headers, 400 for broken framing such as bytes
 * beyond Content-Length) in the error envelope of the surface its request line names, then closes the connection.
 * `wire` renders the surface's envelope for a path.
 */
export function answerClientError(
  err: ParserError,
  socket: Socket,
  wire: (url: string, err: DomainError) => WireError,
): void {
  if (socket.destroyed || !socket.writable) return;
  const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket.toString('latin1') : '';
  const path = REQUEST_LINE.exec(raw)?.[1] ?? lastPath.get(socket) ?? '/';
  const { status, error } = refusalOf(err);
  const body = JSON.stringify(wire(path, error).body);
  const type =
    surfaceOf(path) === 'batch'
      ? 'application/json;odata=minimalmetadata'
      : 'application/json; charset=utf-8';
  socket.end(
    `HTTP/1.1 ${String(status)} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: ${type}\r\n` +
      `Content-Length: ${String(Buffer.byteLength(body))}\r\nConnection: close\r\n\r\n${body}`,
  );
}
