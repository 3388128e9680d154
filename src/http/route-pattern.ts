import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';

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
 * Fastify onRoute hook: gives every route a preHandler that records its pattern on the request,
 * e.g. `/guilds/:guildId/states` (never the raw URL, so metrics and logs group by endpoint, not by
 * guild). Known when the route is registered, so nothing is looked up per request. Requests
 * answered before their handler (401 from the token check, bodies that could not be read) and those
 * no route matched (404) have none.
 */
export function recordRoutePatterns(route: RouteOptions): void {
  const pattern = route.url;
  appendPreHandler(route, (request, _reply, done) => {
    (request as Routed)[ROUTE] = pattern;
    done();
  });
}

/** Adds a preHandler to a route being registered (in an onRoute hook), after those it has. */
export function appendPreHandler(
  route: RouteOptions,
  handler: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void,
): void {
  const existing = route.preHandler;
  route.preHandler = existing === undefined ? handler : [...(Array.isArray(existing) ? existing : [existing]), handler];
}

/** The route pattern that served a request, or undefined (see recordRoutePatterns). */
export const routeOf = (request: FastifyRequest): string | undefined => (request as Routed)[ROUTE];
