import { Logger } from '@nestjs/common';
import { eventually } from './eventually';
import { readMetric } from './metrics';
import { normalized, readObservableState } from './observed-state';
import { startStack, TestStack } from './stack';
import { publish, StoryWorkload } from './story-workload';

/**
 * What every fault test needs: the stack (testkit/stack.ts) with no service - each test starts the
 * built service itself (ServiceProcess), as many instances and with the settings it needs, from
 * `serviceEnv` - and a redis-server of its own, which it may kill.
 */
export type FaultEnv = TestStack<'none'>;

export async function startFaultEnv(prefix: string, partitions = 4): Promise<FaultEnv> {
  Logger.overrideLogger(['error']);
  return startStack(prefix, { service: 'none', partitions, redis: { killable: true } });
}

export { eventually };

/** Publishes a round of the workload. */
export function produce(env: FaultEnv, events: Parameters<typeof publish>[2]): Promise<void> {
  return publish(env.peers, env.topics, events);
}

/** Waits until Redis holds the model's state for everything produced. */
export async function converged(env: FaultEnv, workload: StoryWorkload, timeoutMs = 40000): Promise<void> {
  await eventually(
    async () => expect(normalized(await readObservableState(env.redis.client))).toEqual(workload.expected()),
    timeoutMs,
    200,
  );
}

/** Events this instance counted with that outcome, from its /metrics. */
export async function eventsSeen(service: { url: string }, outcome: 'applied' | 'duplicate' | 'stale' | 'ignored'): Promise<number> {
  return readMetric(service.url, 'state_server_events_total', { outcome });
}
