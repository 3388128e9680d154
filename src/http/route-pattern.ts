import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

/**
 * Health probes and metric scrapes: called by the platform every few seconds, not by API clients.
 * They need no token and their successful requests are logged at debug.
 */
const PROBE_OR_SCRAPE_ROUTE = /^\/(health(\/|$)|metrics\/?$)/;

export const isProbeOrScrape = (route: string): boolean => PROBE_OR_SCRAPE_ROUTE.test(route);

/** Label for requests no route served (404s, and requests refused before their handler): keeps label cardinality bounded. */
export const UNROUTED = 'unrouted';

const ROUTE = Symbol('route');
type Routed = FastifyRequest & { [ROUTE]?: string };

/**
 * Fastify preHandler hook: records the pattern of the route about to run, e.g.
 * `/guilds/:guildId/states` (never the raw URL, so metrics and logs group by endpoint, not by
 * guild). Requests answered before this point (401 from the token check, bodies that could not be
 * read) and those no route matched (404) have none.
 */
export function recordRoute(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (!request.is404) (request as Routed)[ROUTE] = request.routeOptions.url;
  done();
}

/** The route pattern that served a request, or undefined (see recordRoute). */
export const routeOf = (request: FastifyRequest): string | undefined => (request as Routed)[ROUTE];
