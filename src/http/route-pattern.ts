import type { Request } from 'express';

/**
 * Health probes and metric scrapes: called by the platform every few seconds, not by API clients.
 * They need no token and their successful requests are logged at debug.
 */
export const PROBE_OR_SCRAPE_PATH = /^\/(health(\/|$)|metrics\/?$)/;

/** Label for requests no route matched (404s, and bodies rejected before routing): keeps label cardinality bounded. */
export const UNROUTED = 'unrouted';

/**
 * The route pattern that served a request, e.g. `/guilds/:guildId/states` (never the raw URL, so
 * metrics and logs group by endpoint, not by guild). Known once Express has routed the request.
 */
export function routePattern(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  // Nest answers unknown paths from a catch-all route ("/{*path}"): that is no endpoint either.
  return typeof path === 'string' && !path.includes('*') ? `${req.baseUrl ?? ''}${path}` : UNROUTED;
}
