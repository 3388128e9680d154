import autocannon from 'autocannon';
import { percentile, progress, round } from './report';

export interface CannonRun {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** With `countHeader`: how many answers carried each value of that header ("(none)" when absent). */
  headerCounts?: Record<string, number>;
}

export interface CannonOptions {
  connections?: number;
  /** Fixed request rate over all connections (autocannon's overallRate); omitted: as fast as the server answers. */
  rate?: number;
  label?: string;
  /** POSTs `body(i)` as JSON (i counts the requests). */
  body?: (i: number) => string;
  /** A response header whose values are counted (reading headers makes autocannon keep each answer). */
  countHeader?: string;
}

/**
 * autocannon at fixed concurrency, or at a fixed overall rate; latencies taken from every response
 * (sub-millisecond resolution).
 */
export async function cannon(url: string, seconds: number, options: CannonOptions = {}): Promise<CannonRun> {
  const { connections = 32, rate, label = url, body, countHeader } = options;
  const latencies: number[] = [];
  const headerCounts: Record<string, number> = {};
  let next = 0;
  let shown = { stop: () => undefined as void };
  const opts: autocannon.Options = { url, connections, duration: seconds, timeout: 30 };
  if (rate) opts.overallRate = rate;
  const request: autocannon.Request = {};
  if (body) {
    opts.method = 'POST';
    opts.headers = { 'content-type': 'application/json' };
    request.setupRequest = (r) => ({ ...r, body: body(next++) });
  }
  if (countHeader) {
    const name = countHeader.toLowerCase();
    request.onResponse = (_status, _body, _context, headers) => {
      const value = Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];
      const key = value === undefined ? '(none)' : String(value);
      headerCounts[key] = (headerCounts[key] ?? 0) + 1;
    };
  }
  if (body || countHeader) opts.requests = [request];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(opts, (error, r) =>
      error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(r),
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => latencies.push(responseTime));
    shown = progress(label, () => `${latencies.length.toLocaleString()} responses`);
  }).finally(() => shown.stop());
  latencies.sort((a, b) => a - b);
  return {
    requestsPerSecond: round(latencies.length / seconds, 1),
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    maxMs: round(latencies[latencies.length - 1] ?? NaN, 2),
    requests: latencies.length,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    ...(countHeader ? { headerCounts } : {}),
  };
}

/** One line for the progress log. */
export const describeRun = (run: CannonRun) =>
  `${run.requestsPerSecond.toLocaleString()} req/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms` +
  (run.non2xx || run.errors ? ` (${run.non2xx} non-2xx, ${run.errors} errors: not a clean run)` : '');
