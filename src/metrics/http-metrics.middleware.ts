import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { routePattern } from '../http/route-pattern';
import { MetricsService } from './metrics.service';

/**
 * Counts and times every HTTP request by method, route pattern and status. A middleware (mounted
 * first by createApp) rather than an interceptor, so the 401s, 429s and 400s that guards,
 * middleware and the body parser answer before any handler runs are counted too.
 */
export function httpMetrics(metrics: MetricsService): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const labels = { method: req.method, route: routePattern(req), status: String(res.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpSeconds.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}
