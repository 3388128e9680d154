import { errorBody } from '../http/error-body';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify';
import { isProbeOrScrape } from '../http/route-pattern';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The 401 of a request without the API token (`tokenGiven`: it had one, but not the right one). */
export const unauthorized = (tokenGiven: boolean) =>
  errorBody(401, tokenGiven ? 'invalid bearer token' : 'missing Authorization: Bearer <token> header');

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** API_TOKEN's tokens: one, or several separated by commas (one per calling service). */
export const apiTokens = (setting: string): string[] =>
  setting
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

/** The token of a request's `Authorization: Bearer <token>` header, if it has one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
}

/**
 * With API_TOKEN set, every request but /health/* and /metrics needs `Authorization: Bearer <token>`;
 * anything else gets a JSON 401. A Fastify onRequest hook (it runs before the body is read and
 * before Nest's guards and pipes) rather than a guard, so it also covers /docs, /docs-json and
 * unknown paths, and an unauthenticated body is never parsed. The comparison is of SHA-256 digests
 * with timingSafeEqual, against every token: constant time, and equal lengths whatever was sent.
 */
export function apiTokenAuth(setting: string): onRequestHookHandler {
  const expected = apiTokens(setting).map(digest);
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const url = request.url;
    const query = url.indexOf('?');
    if (isProbeOrScrape(query === -1 ? url : url.slice(0, query))) return done();
    const given = bearerToken(request);
    const givenDigest = given !== undefined ? digest(given) : undefined;
    if (givenDigest !== undefined && expected.reduce((match, token) => timingSafeEqual(givenDigest, token) || match, false)) return done();
    reply
      .code(401)
      .header('WWW-Authenticate', 'Bearer realm="state-server"')
      .send(unauthorized(given !== undefined));
  };
}
