/**
 * The performance targets: each defined here once, judged from what the scenarios of one run
 * measured (BenchContext.measured). A target compares ours with a floor measured in the same run
 * (a ratio), or, where no floor applies, holds an absolute bound. Rows without a bound are shown
 * for reference. docs/performance.md keeps the latest table this prints.
 */
import { ratio, round } from './lib/report';

/** What the scenarios put into BenchContext.measured (absent when the scenario did not run). */
export type Measure =
  | 'drainEventsPerSecond'
  | 'drainRedisCpuUsPerEvent'
  | 'bareConsumerEventsPerSecond'
  | 'applyEventsPerSecond'
  | 'originalEventsPerSecond'
  | 'queryRps'
  | 'queryFloorRps'
  | 'communityRps'
  | 'communityFloorRps'
  | 'queryP99AtRate'
  | 'queryFloorP99AtRate'
  | 'sessionP99AtRate'
  | 'sessionNoWaitP99AtRate'
  | 'healthP99AtRate'
  | 'sessionCallRedisUs'
  | 'slowestCommandMs'
  | 'pingP99Busy'
  | 'pingP99Idle'
  | 'clusterLargestKeySharePercent'
  | 'changeRelayOnEventsPerSecond'
  | 'changeRelayOffEventsPerSecond'
  | 'sseLatencyP99'
  | 'sseQueryLatencyP99'
  | 'smallCallRedisUs'
  | 'smallCallRedisUsBefore'
  | 'batchEventRedisUs'
  | 'batchEventRedisUsBefore'
  | 'upkeepCallRedisUs'
  | 'upkeepCallRedisUsBefore'
  | 'redisInstructionsPerEvent'
  | 'redisInstructionsPerEventStreamOff';

export type Measured = Partial<Record<Measure, number>>;

/** Rates of the fixed-rate latency targets (autocannon overallRate). */
export const QUERY_RATE = 1000;
export const SESSION_RATE = 300;

export interface Target {
  row: string;
  /** Ours, and the floor it is divided by (a ratio target); no floor: `bound` applies to ours itself. */
  ours: Measure;
  floor?: Measure;
  floorName?: string;
  unit: string;
  bound?: { op: '>=' | '<='; limit: number };
  issue: string;
}

export const TARGETS: readonly Target[] = [
  {
    row: 'drain vs the original algorithm, same events',
    ours: 'drainEventsPerSecond',
    floor: 'originalEventsPerSecond',
    floorName: 'original',
    unit: 'events/s',
    bound: { op: '>=', limit: 15 },
    issue: '#20',
  },
  {
    row: 'Redis CPU per event during the drain',
    ours: 'drainRedisCpuUsPerEvent',
    unit: 'µs',
    bound: { op: '<=', limit: 8 },
    issue: '#20',
  },
  {
    row: 'drain vs the apply path alone',
    ours: 'drainEventsPerSecond',
    floor: 'applyEventsPerSecond',
    floorName: 'apply path',
    unit: 'events/s',
    bound: { op: '>=', limit: 0.8 },
    issue: '#20',
  },
  {
    row: 'drain vs a bare kafkajs consumer',
    ours: 'drainEventsPerSecond',
    floor: 'bareConsumerEventsPerSecond',
    floorName: 'bare consumer',
    unit: 'events/s',
    issue: 'reference',
  },
  {
    row: '100-id query, 32 connections: req/s',
    ours: 'queryRps',
    floor: 'queryFloorRps',
    floorName: 'floor',
    unit: 'req/s',
    bound: { op: '>=', limit: 0.8 },
    issue: '#20',
  },
  {
    row: '5,000-id community route, 8 conn.: req/s',
    ours: 'communityRps',
    floor: 'communityFloorRps',
    floorName: 'floor',
    unit: 'req/s',
    bound: { op: '>=', limit: 0.8 },
    issue: '#20',
  },
  {
    row: `100-id query: p99 at ${QUERY_RATE.toLocaleString('en-US')} req/s`,
    ours: 'queryP99AtRate',
    floor: 'queryFloorP99AtRate',
    floorName: 'floor',
    unit: 'ms',
    bound: { op: '<=', limit: 1.5 },
    issue: '#20',
  },
  {
    row: `session route: p99 at ${SESSION_RATE} req/s`,
    ours: 'sessionP99AtRate',
    floor: 'healthP99AtRate',
    floorName: '/health/live',
    unit: 'ms',
    bound: { op: '<=', limit: 3 },
    issue: '#20',
  },
  {
    row: `session route: p99, wait on vs off, ${SESSION_RATE} req/s`,
    ours: 'sessionP99AtRate',
    floor: 'sessionNoWaitP99AtRate',
    floorName: 'SESSION_ROUTE_WAIT_MS=0',
    unit: 'ms',
    bound: { op: '<=', limit: 1.5 },
    issue: '#17',
  },
  {
    row: 'Redis time per session-route script call',
    ours: 'sessionCallRedisUs',
    unit: 'µs',
    issue: 'reference',
  },
  {
    row: '100,000-member guild, 8 readers: slowest command',
    ours: 'slowestCommandMs',
    unit: 'ms',
    bound: { op: '<=', limit: 5 },
    issue: '#20',
  },
  {
    row: '100,000-member guild, 8 readers: PING p99',
    ours: 'pingP99Busy',
    floor: 'pingP99Idle',
    floorName: 'idle',
    unit: 'ms',
    bound: { op: '<=', limit: 2 },
    issue: '#20',
  },
  {
    row: 'drain with the change stream on vs off (CHANGE_TOPIC=)',
    ours: 'changeRelayOnEventsPerSecond',
    floor: 'changeRelayOffEventsPerSecond',
    floorName: 'off',
    unit: 'events/s',
    issue: '#21',
  },
  {
    row: 'record -> SSE event p99 vs record -> query p99, 200 records/s',
    ours: 'sseLatencyP99',
    floor: 'sseQueryLatencyP99',
    floorName: 'query',
    unit: 'ms',
    issue: '#21',
  },
  {
    row: 'Redis time per 1-event apply call vs the library sent with each call',
    ours: 'smallCallRedisUs',
    floor: 'smallCallRedisUsBefore',
    floorName: 'before',
    unit: 'µs',
    bound: { op: '<=', limit: 0.5 },
    issue: '#18',
  },
  {
    row: 'Redis time per upkeep call (prune-versions) vs before',
    ours: 'upkeepCallRedisUs',
    floor: 'upkeepCallRedisUsBefore',
    floorName: 'before',
    unit: 'µs',
    bound: { op: '<=', limit: 0.5 },
    issue: '#18',
  },
  {
    row: 'Redis time per event, 200-event apply calls',
    ours: 'batchEventRedisUs',
    floor: 'batchEventRedisUsBefore',
    floorName: 'before',
    unit: 'µs',
    issue: 'reference',
  },
  {
    row: 'Redis instructions per applied event (callgrind), change stream on vs off',
    ours: 'redisInstructionsPerEvent',
    floor: 'redisInstructionsPerEventStreamOff',
    floorName: 'off',
    unit: '',
    issue: 'reference',
  },
  {
    row: "Redis Cluster, 3 masters: largest master's share of keys (33.3 % is even)",
    ours: 'clusterLargestKeySharePercent',
    unit: '%',
    bound: { op: '<=', limit: 36 },
    issue: 'cluster',
  },
];

export interface TargetRow {
  row: string;
  ours: number;
  unit: string;
  floorName?: string;
  floor?: number;
  ratio?: number;
  target?: string;
  met?: boolean;
}

/** The targets whose figures this run measured, judged. */
export function judge(measured: Measured): TargetRow[] {
  const rows: TargetRow[] = [];
  for (const t of TARGETS) {
    const ours = measured[t.ours];
    const floor = t.floor ? measured[t.floor] : undefined;
    if (ours === undefined || (t.floor && floor === undefined)) continue;
    const r = floor !== undefined ? ratio(ours, floor) : undefined;
    const judged = r ?? ours;
    const target = t.bound ? `${t.bound.op === '>=' ? '≥' : '≤'} ${t.bound.limit}${t.floor ? '×' : ` ${t.unit}`}` : undefined;
    const met = t.bound ? (t.bound.op === '>=' ? judged >= t.bound.limit : judged <= t.bound.limit) : undefined;
    rows.push({ row: t.row, ours: round(ours, 2), unit: t.unit, floorName: t.floorName, floor, ratio: r, target, met });
  }
  return rows;
}

const fmt = (x: number | undefined, unit = '') => {
  if (x === undefined || Number.isNaN(x)) return '';
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return `${x.toLocaleString('en-US', { maximumFractionDigits: digits })}${unit ? ` ${unit}` : ''}`;
};

/** The targets as a Markdown table (the form docs/performance.md keeps). */
export function targetTable(rows: readonly TargetRow[]): string {
  const header = ['target', 'ours', 'floor, same run', 'ratio', 'bound', 'met'];
  const cells = rows.map((r) => [
    r.row,
    fmt(r.ours, r.unit),
    r.floorName ? `${r.floorName}: ${fmt(r.floor, r.unit)}` : '',
    r.ratio !== undefined ? `${fmt(r.ratio)}×` : '',
    r.target ?? '',
    r.met === undefined ? '' : r.met ? 'yes' : '**no**',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}
