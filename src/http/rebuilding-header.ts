import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import { appendPreHandler } from './route-pattern';

const REBUILDING_HEADER = 'X-State-Rebuilding';
const MARKED = 'markedWhileRebuilding';

/**
 * On a query handler: its answers carry `X-State-Rebuilding: true` while the state is being rebuilt
 * (they may miss presence the replay has not reached yet; briefly incomplete beats an outage).
 */
export const MarkedWhileRebuilding = () => RouteConfig({ [MARKED]: true });

/** Whether a route was declared with MarkedWhileRebuilding (its Fastify route config). */
export const isMarkedWhileRebuilding = (config: unknown): boolean =>
  typeof config === 'object' && config !== null && (config as Record<string, unknown>)[MARKED] === true;

/**
 * Fastify onRoute hook: gives the routes declared with MarkedWhileRebuilding a preHandler that sets
 * the header while `rebuild.rebuilding`. One boolean check per request; not a Nest interceptor,
 * whose per-request rxjs pipeline cost about a fifth of a query's CPU (docs/performance.md).
 */
export function rebuildingHeader(rebuild: { readonly rebuilding: boolean }): (route: RouteOptions) => void {
  const mark = (_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    if (rebuild.rebuilding) reply.header(REBUILDING_HEADER, 'true');
    done();
  };
  return (route) => {
    if (isMarkedWhileRebuilding(route.config)) appendPreHandler(route, mark);
  };
}
