import { HttpException } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { parseJsonKeepingNumbersAsText } from '../common/lossless-json';
import type { AppConfig } from '../config/app-config';
import { errorBody } from './error-body';

/** application/json (any parameters) is matched by name; this catches the application/*+json family. */
const STRUCTURED_JSON = /^application\/[\w.+-]+\+json(;|$)/i;

/** Largest HTTP body accepted: room for MAX_QUERY_USER_IDS ids of 20 digits with quotes and commas. */
export const bodyLimitFor = (config: Pick<AppConfig, 'MAX_QUERY_USER_IDS'>) => Math.max(64 * 1024, config.MAX_QUERY_USER_IDS * 32);

const bodyError = (statusCode: number, message: string) => new HttpException(errorBody(statusCode, message, 'body'), statusCode);

export const bodyTooLarge = (limitBytes: number) => bodyError(413, `request body exceeds ${limitBytes} bytes`);

export const unsupportedMediaType = (contentType: string | undefined) =>
  bodyError(415, `request body must be JSON sent with Content-Type: application/json (got ${contentType ?? 'no Content-Type'})`);

/**
 * Fastify's body parsing, replaced: JSON bodies are parsed losslessly (64-bit ids sent as JSON
 * numbers keep every digit) and anything else is refused with a JSON 415; a malformed body gets a
 * JSON 400, one over `limitBytes` a JSON 413 (answered by HttpErrorsFilter, as Fastify raises it
 * while reading). An empty JSON body is no body (the route's validation then names what is missing).
 */
export function registerLosslessJsonBody(fastify: FastifyInstance, limitBytes: number): void {
  fastify.removeAllContentTypeParsers();
  const parseJson = (_request: unknown, text: string, done: (error: Error | null, body?: unknown) => void) => {
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, parseJsonKeepingNumbersAsText(text));
    } catch (error) {
      done(bodyError(400, `request body is not valid JSON: ${(error as Error).message}`));
    }
  };
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: limitBytes }, parseJson);
  fastify.addContentTypeParser(STRUCTURED_JSON, { parseAs: 'string', bodyLimit: limitBytes }, parseJson);
  // Any other Content-Type, or none, on a request with a body. The body is left unread (Fastify closes the connection).
  fastify.addContentTypeParser('*', (request, _payload, done) => done(unsupportedMediaType(request.headers['content-type']), undefined));
}
