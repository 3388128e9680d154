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
}

/**
 * autocannon at fixed concurrency; latencies taken from every response (sub-millisecond
 * resolution). With `body`, each request POSTs `body(i)` as JSON (i counts the requests).
 */
export async function cannon(
  url: string,
  seconds: number,
  connections = 32,
  label = url,
  body?: (i: number) => string,
): Promise<CannonRun> {
  const latencies: number[] = [];
  let next = 0;
  let shown = { stop: () => undefined as void };
  const options: autocannon.Options = { url, connections, duration: seconds, timeout: 30 };
  if (body) {
    options.method = 'POST';
    options.headers = { 'content-type': 'application/json' };
    options.requests = [{ setupRequest: (request) => ({ ...request, body: body(next++) }) }];
  }
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (error, r) =>
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
  };
}
