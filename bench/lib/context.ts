import { freePort } from '../../testkit/free-port';
import { startTestKafka, TestKafka } from '../../testkit/kafka';
import { startStack, TestStack } from '../../testkit/stack';
import { Workload } from '../../testkit/mixed-workload';
import type { Measured } from '../targets';

/** What every scenario gets from run.ts. */
export interface BenchContext {
  quick: boolean;
  events: number;
  workload: Workload;
  /** Seconds per autocannon run. */
  queryDurationSeconds: number;
  freshnessSeconds: number;
  freshnessRate: number;
  memoryUsers: number;
  originalEvents: number;
  queryUserCounts: number[];
  /** Directory for CPU profiles of the children, when --profile is given. */
  profileDir?: string;
  /** Figures the targets are judged from (bench/targets.ts); also how one scenario quotes another's. */
  measured: Measured;
}

export type BenchKafka = TestKafka;

/** The embedded broker, in this process (the consumer under test runs in a child process): one for the run, shared by the scenarios. */
export function startBenchKafka(): Promise<BenchKafka> {
  return startTestKafka({ embedded: true, quiet: true, clientId: 'bench' });
}

/**
 * A scenario's stack (testkit/stack.ts): the run's broker, topics of its own, a redis-server of its
 * own (never REDIS_URL); no service: the scenario starts it as a child (bench/children/consumer.ts).
 * stop() leaves the broker running.
 */
export function startBenchStack(kafka: BenchKafka, prefix: string): Promise<TestStack<'none'>> {
  return startStack(prefix, { kafka, service: 'none', redis: { own: true } });
}

/**
 * Settings every bench client of Redis gets: on a loaded 2-core machine a pipeline of script calls
 * can wait past the 2 s default and be retried, which measures the machine, not the code.
 */
export const BENCH_ENV = { REDIS_COMMAND_TIMEOUT_MS: '30000' };

/**
 * The service's environment for a bench run: production defaults (rate limit off; LOG_LEVEL info
 * with request lines only for errors and slow requests; the change stream on) but BENCH_ENV, and a
 * change topic of the service's own (the service creates it): it does not start by reading what
 * earlier children relayed.
 */
export async function serviceEnv(stack: TestStack<'none'>, groupId: string) {
  return {
    ...stack.serviceEnv,
    ...BENCH_ENV,
    PORT: String(await freePort()),
    KAFKA_GROUP_ID: groupId,
    KAFKA_CLIENT_ID: groupId,
    CHANGE_TOPIC: `${groupId}.changes`,
  };
}
