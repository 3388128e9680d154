import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { getJson } from '../../testkit/app';
import { startStack, TestStack, waitUntilConsumed } from '../../testkit/stack';

/**
 * The Grafana dashboard (deploy/grafana/state-server.json) and the Prometheus alert rules
 * (deploy/prometheus/alerts.yml) only use metrics the running service exports, so neither shows
 * "no data" or never fires because of a renamed metric. The rules pass `promtool check rules` when
 * promtool is installed (.ci/run installs it; without it that one test is skipped with a notice),
 * and a structural check of the rule file in any case; each alert's runbook section exists.
 */
const ROOT = join(__dirname, '..', '..');
const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'state-server.json');
const ALERTS = join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
const OPERATIONS = join(ROOT, 'docs', 'operations.md');

interface Panel {
  type: string;
  title: string;
  id: number;
  fieldConfig?: { defaults: { unit?: string } };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string }[];
  gridPos: { h: number; w: number; x: number; y: number };
}
interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; definition?: string }[] };
};
const alertRules = parse(readFileSync(ALERTS, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };

const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));
const alertExprs = alertRules.groups.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr })));
/** The service's own metrics and prom-client's default ones named in an expression. */
const metricNames = (expr: string) => [...expr.matchAll(/\b((?:state_server|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]);

let stack: TestStack;
/** Every series name the service exports: counters and gauges by name, histograms as _bucket, _sum and _count. */
const exported = new Set<string>();

beforeAll(async () => {
  stack = await startStack('monitoring');
  // One event and one query, so the event, apply and HTTP series have samples too.
  await stack.peers.connect('monitoring-session', 1, { guildIds: [1] });
  await waitUntilConsumed(stack);
  await getJson(`${stack.app.url}/guilds/1/states?userIds=1`);
  const { status, body } = await getJson(`${stack.app.url}/metrics`);
  expect(status).toBe(200);
  for (const [, name, type] of (body as string).matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(name + suffix);
    else if (type === 'summary') for (const suffix of ['', '_sum', '_count']) exported.add(name + suffix);
    else exported.add(name);
  }
});

afterAll(async () => {
  await stack?.stop();
});

it('the dashboard and the alert rules use only metrics the service exports', () => {
  const used = [...dashboardExprs, ...alertExprs].flatMap(({ where, expr }) => metricNames(expr).map((name) => ({ where, name })));
  expect(used.length).toBeGreaterThan(20);
  expect(used.filter(({ name }) => !exported.has(name))).toEqual([]);
});

it('the dashboard covers events, apply latency, lag, presence, HTTP, Redis errors and readiness', () => {
  const all = dashboardExprs.map((e) => e.expr).join('\n');
  for (const name of [
    'state_server_events_total',
    'state_server_apply_duration_seconds_bucket',
    'state_server_consumer_lag',
    'state_server_online_users',
    'state_server_voice_participants',
    'state_server_http_requests_total',
    'state_server_http_request_duration_seconds_bucket',
    'state_server_redis_errors_total',
    'state_server_ready',
    'state_server_rebuild_progress_ratio',
    'state_server_redis_node_up',
    'state_server_redis_replays_total',
    'process_resident_memory_bytes',
  ]) {
    expect(all).toContain(name);
  }
  // Importable as is: every panel reads the dashboard's Prometheus variable; ids are unique.
  const panels = dashboard.panels.filter((p) => p.type !== 'row');
  expect(panels.every((p) => p.datasource?.uid === '${datasource}' && (p.targets ?? []).length > 0)).toBe(true);
  expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
  expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'instance']);
  // The instance drop-down lists every instance, an idle one too: it reads a gauge set on every scrape.
  expect(dashboard.templating.list[1].definition).toBe('label_values(state_server_ready, instance)');
});

it('plots one unit per dashboard panel: bytes only with bytes, seconds only with seconds', () => {
  const unitOf = (name: string) => (/_bytes$/.test(name) ? 'bytes' : /_seconds(_bucket|_sum|_count)?$/.test(name) ? 's' : 'other');
  const mixed = dashboard.panels.flatMap((p) => {
    const units = new Set((p.targets ?? []).flatMap((t) => metricNames(t.expr).map(unitOf)));
    const unit = p.fieldConfig?.defaults.unit;
    const fits = units.size <= 1 && (unit !== 'bytes' || units.has('bytes')) && (unit !== 's' || units.has('s'));
    return fits ? [] : [`${p.title}: ${[...units].join(', ')} as ${unit}`];
  });
  expect(mixed).toEqual([]);
});

it("exports Node.js's default process metrics under their standard names", () => {
  for (const name of [
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_heap_size_used_bytes',
  ])
    expect(exported).toContain(name);
  expect([...exported].filter((name) => /^state_server_(process|nodejs)_/.test(name))).toEqual([]);
});

it('the alert rules cover an instance down or gone, not ready, lag growing, dead letters, Redis errors and 5xx', () => {
  const byName = Object.fromEntries(alertRules.groups.flatMap((g) => g.rules).map((r) => [r.alert, r.expr]));
  expect(byName.StateServerDown).toMatch(/^up\{job="state-server"\} == 0$/);
  expect(byName.StateServerAbsent).toBe('absent(state_server_ready)');
  expect(byName.StateServerNotReady).toContain('state_server_ready');
  expect(byName.StateServerConsumerLagGrowing).toContain('state_server_consumer_lag');
  expect(byName.StateServerDeadLetters).toContain('outcome="dead_lettered"');
  expect(byName.StateServerRedisErrors).toContain('state_server_redis_errors_total');
  expect(byName.StateServerHttp5xx).toMatch(/status=~"5\.\."/);
});

it('exports readiness per component for the not-ready alert', async () => {
  const { body } = await getJson(`${stack.app.url}/metrics`);
  expect(body).toMatch(/^state_server_ready\{component="kafka"\} 1$/m);
  expect(body).toMatch(/^state_server_ready\{component="redis"\} 1$/m);
});

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
if (promtool.error)
  process.stderr.write(
    `monitoring-files.test.ts: promtool not installed (apt-get install prometheus): skipping promtool check rules / test rules on alerts.yml (the structural check still runs)\n`,
  );

(promtool.error ? it.skip : it)('the alert rules pass promtool check rules', () => {
  const check = spawnSync('promtool', ['check', 'rules', ALERTS], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`promtool check rules ${ALERTS} failed:\n${check.stdout}${check.stderr}`);
  expect(check.stdout).toMatch(/SUCCESS: \d+ rules found/);
});

// deploy/prometheus/alerts.test.yml: each alert fires on its series with its labels and text, and
// not on a near miss (a steady lag, dead letters older than the window, a route with no 5xx).
(promtool.error ? it.skip : it)('each alert fires when it should and not otherwise (promtool test rules)', () => {
  const run = spawnSync('promtool', ['test', 'rules', ALERTS.replace(/\.yml$/, '.test.yml')], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`promtool test rules failed:\n${run.stdout}${run.stderr}`);
  expect(run.stdout).toMatch(/SUCCESS/);
});

it('the alert rules have the shape Prometheus loads', () => {
  expect(alertRules.groups.length).toBeGreaterThan(0);
  for (const group of alertRules.groups) {
    expect(typeof group.name).toBe('string');
    for (const rule of group.rules) {
      expect(Object.keys(rule).filter((k) => !['alert', 'expr', 'for', 'labels', 'annotations', 'keep_firing_for'].includes(k))).toEqual(
        [],
      );
      expect(rule.alert).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
      expect(typeof rule.expr).toBe('string');
      if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smhdwy]$/);
      expect(rule.labels?.severity).toMatch(/^(critical|warning)$/);
      expect(typeof rule.annotations?.summary).toBe('string');
      // Balanced brackets: the commonest slip in a hand-edited expression.
      for (const [open, close] of ['()', '{}', '[]']) expect(rule.expr.split(open).length).toBe(rule.expr.split(close).length);
    }
  }
});

/** GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces as dashes. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');

it('links each alert to its own runbook section in docs/operations.md', () => {
  const anchors = new Set([...readFileSync(OPERATIONS, 'utf8').matchAll(/^#{2,4} (.+)$/gm)].map((m) => anchorOf(m[1])));
  const rules = alertRules.groups.flatMap((g) => g.rules);
  const links = rules.map((r) => ({ alert: r.alert, url: r.annotations?.runbook_url }));
  expect(links.filter(({ url }) => !/^docs\/operations\.md#[a-z0-9-]+$/.test(url ?? '') || !anchors.has(url!.split('#')[1]))).toEqual([]);
  expect(new Set(links.map((l) => l.url)).size).toBe(rules.length);
});
