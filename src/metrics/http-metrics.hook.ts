import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, onResponseHookHandler } from 'fastify';
import { routeOf, UNROUTED } from '../http/route-pattern';
import { MetricsService } from './metrics.service';

/**
 * Counts and times every HTTP request by method, route pattern and status. A Fastify onResponse
 * hook rather than a Nest interceptor, so the 401s, 400s, 413s and 415s answered before any
 * handler runs are counted too (under route "unrouted"), as are the 429s and 400s of guards and pipes.
 */
export function httpMetrics(metrics: MetricsService): onResponseHookHandler {
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const labels = { method: request.raw.method ?? '', route: routeOf(request) ?? UNROUTED, status: String(reply.statusCode) };
    metrics.httpRequests.inc(labels);
    metrics.httpSeconds.observe(labels, reply.elapsedTime / 1000);
    done();
  };
}
