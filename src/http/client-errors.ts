import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AppConfig } from '../config/app-config';
import { ErrorBody, errorBody } from './error-body';
import { REQUEST_ID_HEADER } from './request-id';

const POST_ROUTE_HINT = 'to name many userIds, send them with POST /guilds/{guildId}/states/query and a JSON body {"userIds":[...]}';
/** Longest path parameter routed: any id is far shorter, and a longer one still reaches its pipe, which says what is wrong. */
export const MAX_PARAM_LENGTH = 1000;

/** How long a connection whose request was refused unread may keep sending before it is cut. */
const LINGER_MS = 2000;

/**
 * Node's limit on the request line and headers together (its default is 16 KiB), raised so that a
 * GET naming MAX_QUERY_USER_IDS ids of 19 digits fits, even with each comma sent as %2C.
 */
export const maxHeaderBytesFor = (config: AppConfig): number => Math.max(16 * 1024, config.MAX_QUERY_USER_IDS * 22 + 8 * 1024);

type ClientError = Error & { code?: string; reason?: string; rawPacket?: unknown; bytesParsed?: number };

const REQUEST_START = /^[A-Z]+ \//;
const REQUEST_LINE_END = / HTTP\/\d\.\d$/;

/**
 * Whether the request line (method, URL, version) is what overflowed the limit, rather than the
 * headers. Node gives the chunk it was parsing (`rawPacket`) and where in it the limit was passed
 * (`bytesParsed`); a long URL arrives in many chunks. Read up to that point, from the start of the
 * request being parsed (after a previous request's blank line, if the chunk holds one):
 * - the request starts there: its line is not finished, or takes most of the limit;
 * - it began in an earlier chunk and there is no line end: one line longer than the chunk
 *   overflowed; a URL has no spaces (a header that long, e.g. cookies, usually has);
 * - it began earlier and the first line ending here is the request line (`… HTTP/1.1`): the
 *   request line is the limit minus the headers after it, so it overflowed if those are under half.
 */
export function urlTooLong(error: ClientError, maxHeaderBytes: number): boolean {
  const raw = error.rawPacket;
  if (!Buffer.isBuffer(raw)) return false;
  const parsed = Math.min(error.bytesParsed ?? raw.length, raw.length);
  const previousEnd = raw.subarray(0, parsed).lastIndexOf('\r\n\r\n');
  const part = raw.subarray(previousEnd === -1 ? 0 : previousEnd + 4, parsed);
  const lineEnd = part.indexOf('\r\n');
  if (REQUEST_START.test(part.subarray(0, 16).toString('latin1'))) return lineEnd === -1 || lineEnd > maxHeaderBytes / 2;
  if (previousEnd !== -1) return false; // not a request line after a previous request's end
  if (lineEnd === -1) return !part.includes(0x20);
  if (!REQUEST_LINE_END.test(part.subarray(Math.max(0, lineEnd - 16), lineEnd).toString('latin1'))) return false;
  return part.length - lineEnd < maxHeaderBytes / 2;
}

/** The 414 of a GET whose URL (its userIds) is longer than the request line and headers may be. */
export const uriTooLong = (maxHeaderBytes: number): ErrorBody =>
  errorBody(414, `URL too long: the request line and headers may take at most ${maxHeaderBytes} bytes; ${POST_ROUTE_HINT}`);

/** What to answer a request Node could not parse (it never reaches Fastify's routing or Nest). */
export function clientErrorAnswer(error: ClientError, maxHeaderBytes: number): ErrorBody {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return urlTooLong(error, maxHeaderBytes)
      ? uriTooLong(maxHeaderBytes)
      : errorBody(
          431,
          `request headers too large: the request line and headers may take at most ${maxHeaderBytes} bytes; ${POST_ROUTE_HINT}`,
        );
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return errorBody(408, 'the request was not received in time');
  return errorBody(400, `malformed HTTP request: ${error.reason ?? error.code ?? error.message}`);
}

/**
 * Fastify's clientErrorHandler: a request Node's HTTP parser refused (URL or headers over the
 * limit, malformed) gets the service's JSON error body rather than Node's empty one. The rest of
 * the request is read and dropped while the answer goes out: closing with unread data would reset
 * the connection and the client could lose the answer.
 */
export function clientErrorHandler(maxHeaderBytes: number, logger: Logger) {
  return (error: ClientError, socket: Socket): void => {
    // Reset by the peer, or already answered (Node reports each further chunk of a refused request again).
    if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) return;
    const answer = clientErrorAnswer(error, maxHeaderBytes);
    const { statusCode } = answer;
    const body = JSON.stringify(answer);
    logger[statusCode === 400 || statusCode === 408 ? 'debug' : 'info'](
      { err: { code: error.code, message: error.message } },
      `client error: ${statusCode}`,
    );
    socket.end(
      `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}

/**
 * Fastify's frameworkErrors: a URL its router refuses before any route or hook runs (a malformed
 * percent-encoding, a path segment over maxParamLength) gets the service's JSON error body too.
 */
export function routingErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const statusCode = error.statusCode ?? 400;
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`
      : error.code === 'FST_ERR_BAD_URL'
        ? `malformed URL: ${error.message}`
        : error.message;
  reply.code(statusCode).header(REQUEST_ID_HEADER, request.id).send(errorBody(statusCode, message));
}
