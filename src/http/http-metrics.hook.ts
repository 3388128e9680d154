import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, onResponseHookHandler } from 'fastify';
import type { Counter, Histogram } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';
import { routeOf, UNROUTED } from './route-pattern';

interface Series {
  requests: Counter.Internal;
  seconds: Histogram.Internal<'method' | 'route' | 'status'>;
}

/**
 * Counts and times every HTTP request by method, route pattern and status. A Fastify onResponse
 * hook rather than a Nest interceptor, so the 401s, 400s, 413s and 415s answered before any
 * handler runs are counted too (under route "unrouted"), as are the 429s and 400s of guards and
 * pipes. Each label combination's series is looked up once, not hashed from its labels per request.
 */
export function httpMetrics(metrics: MetricsService): onResponseHookHandler {
  const series = new Map<string, Series>();
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const method = request.raw.method ?? '';
    const route = routeOf(request) ?? UNROUTED;
    const status = reply.statusCode;
    const key = `${method} ${route} ${status}`;
    let found = series.get(key);
    if (found === undefined) {
      const labels = { method, route, status: String(status) };
      found = { requests: metrics.httpRequests.labels(labels), seconds: metrics.httpSeconds.labels(labels) };
      series.set(key, found);
    }
    found.requests.inc();
    found.seconds.observe(reply.elapsedTime / 1000);
    done();
  };
}
