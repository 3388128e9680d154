/**
 * Reading the service's /metrics in tests: the sum of one metric's samples whose labels include
 * the given values (other labels summed over), e.g.
 * `await readMetric(url, 'state_server_events_total', { outcome: 'applied' })`.
 */
export function sumSamples(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(match[3]);
  }
  return sum;
}

/** The service's /metrics text at `url` (the service's base URL). */
export async function metricsText(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`GET ${url}/metrics answered ${res.status}`);
  return res.text();
}

/** sumSamples over the service's current /metrics. */
export async function readMetric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return sumSamples(await metricsText(url), name, labels);
}
