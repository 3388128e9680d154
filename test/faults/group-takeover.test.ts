import { converged, eventsSeen, FaultEnv, produce, startFaultEnv } from '../../testkit/fault-env';
import { ServiceProcess } from '../../testkit/service-process';
import { StoryWorkload } from '../../testkit/story-workload';

/**
 * Two instances in one consumer group share the partitions. One is SIGKILLed (it never leaves the
 * group politely): once the broker drops it (KAFKA_SESSION_TIMEOUT_MS), the other takes over its
 * partitions from their committed offsets, and the state is the model's.
 */

let env: FaultEnv;
let first: ServiceProcess;
let second: ServiceProcess;

beforeAll(async () => {
  env = await startFaultEnv('group-takeover', 4);
  [first, second] = await Promise.all([ServiceProcess.start(env.serviceEnv, 'first'), ServiceProcess.start(env.serviceEnv, 'second')]);
});
afterAll(async () => {
  await Promise.all([first?.stop(), second?.stop()]);
  await env?.stop();
});

it('lets the surviving instance take over the partitions of a killed one', async () => {
  const workload = new StoryWorkload({ users: 400, seed: 31 });
  await produce(env, workload.round(400));
  await converged(env, workload);
  // Both had partitions: each applied part of the traffic.
  expect(await eventsSeen(first, 'applied')).toBeGreaterThan(0);
  expect(await eventsSeen(second, 'applied')).toBeGreaterThan(0);

  const before = await eventsSeen(second, 'applied');
  await produce(env, workload.round(400)); // in flight while one dies
  expect(await first.kill('SIGKILL')).toBeNull();
  await produce(env, workload.round(400));
  await converged(env, workload);
  expect(await second.status('/health/ready')).toBe(200);
  // The survivor applied more than its own share of the two rounds: it took over.
  expect((await eventsSeen(second, 'applied')) - before).toBeGreaterThan(0);
}, 120000);
