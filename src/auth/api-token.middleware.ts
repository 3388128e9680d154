import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { PROBE_OR_SCRAPE_PATH } from '../http/route-pattern';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * With API_TOKEN set, every request but /health/* and /metrics needs `Authorization: Bearer <token>`;
 * anything else gets a JSON 401. A middleware (mounted before the body parser and the routes)
 * rather than a guard, so it also covers /docs, /docs-json and unknown paths, and an unauthenticated
 * body is never parsed. The comparison is of SHA-256 digests with timingSafeEqual: constant time,
 * and equal lengths whatever was sent.
 */
export function apiTokenAuth(token: string): RequestHandler {
  const expected = digest(token);
  return (req: Request, res: Response, next: NextFunction) => {
    if (PROBE_OR_SCRAPE_PATH.test(req.path)) return next();
    const header = req.headers.authorization;
    const given = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
    if (given !== undefined && timingSafeEqual(digest(given), expected)) return next();
    res.setHeader('WWW-Authenticate', 'Bearer realm="state-server"');
    res.status(401).json({
      statusCode: 401,
      error: 'Unauthorized',
      message: given === undefined ? 'missing Authorization: Bearer <token> header' : 'invalid bearer token',
    });
  };
}
