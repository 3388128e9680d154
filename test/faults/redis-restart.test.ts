import { converged, eventually, FaultEnv, produce, startFaultEnv } from '../../testkit/fault-env';
import { normalized, readObservableState } from '../../testkit/observed-state';
import { PresenceModel } from '../../testkit/presence-model';
import { ServiceProcess } from '../../testkit/service-process';
import { StoryWorkload } from '../../testkit/story-workload';

/**
 * Redis killed mid-stream and started again, empty (no persistence here), with the automatic
 * rebuild turned off (STATE_REBUILD=off, the manual fallback): consumption pauses and readiness
 * goes 503 while it is down; nothing is skipped; the state lost with Redis is rebuilt by an
 * operator's replay from the earliest offset (docs/reliability.md). The automatic rebuild:
 * self-healing.test.ts.
 */

let env: FaultEnv;
let service: ServiceProcess;

beforeAll(async () => {
  env = await startFaultEnv('redis-restart');
  service = await ServiceProcess.start({ ...env.serviceEnv, STATE_REBUILD: 'off' });
});
afterAll(async () => {
  await service?.stop();
  await env?.stop();
});

it('pauses while Redis is down, skips nothing, and is rebuilt by a replay from the earliest offset', async () => {
  const workload = new StoryWorkload({ users: 300, seed: 11 });
  await produce(env, workload.round(200));
  await converged(env, workload);

  await env.redis.kill();
  await eventually(async () => expect(await service.status('/health/ready')).toBe(503));
  expect(await service.status('/guilds/100/states?userIds=1000')).toBe(503);

  // Produced while Redis is down: must wait, not be skipped or dead-lettered.
  const duringOutage = workload.round(200);
  await produce(env, duringOutage);
  await new Promise((r) => setTimeout(r, 1500));
  expect(await service.status('/health/ready')).toBe(503);
  expect(await service.status('/health/live')).toBe(200);

  await env.redis.restart(); // empty
  // The service notices that the state is gone and says so: not ready, with the reason.
  await eventually(
    async () => {
      const res = await fetch(`${service.url}/health/ready`);
      expect(res.status).toBe(503);
      expect(JSON.stringify(await res.json())).toMatch(/Redis lost the state/);
    },
    15000,
    200,
  );
  // Everything produced during the outage was applied, onto the empty Redis: exactly what the
  // model says those events alone do.
  const outageOnly = new PresenceModel();
  for (const { event, atMs } of duringOutage) outageOnly.apply(event, atMs);
  await eventually(
    async () => expect(normalized(await readObservableState(env.redis.client))).toEqual(normalized(outageOnly.observable())),
    30000,
    200,
  );

  // Rebuild: stop the service, clear the partial state, replay from the earliest offset. With a
  // real cluster one rewinds the group (kafka-consumer-groups.sh --reset-offsets --to-earliest);
  // here, as docs/reliability.md also allows, a fresh group id with KAFKA_FROM_BEGINNING=true.
  expect(await service.kill('SIGTERM')).toBe(0);
  await env.redis.flush();
  service = await ServiceProcess.start({
    ...env.serviceEnv,
    STATE_REBUILD: 'off',
    KAFKA_GROUP_ID: `${env.serviceEnv.KAFKA_GROUP_ID}-rebuild`,
    KAFKA_FROM_BEGINNING: 'true',
  });
  await converged(env, workload);

  // And it keeps going.
  await produce(env, workload.round(100));
  await converged(env, workload);
  expect(await readDeadLetters(env)).toBe(0);
}, 150000);

/** Dead letters are not expected here: the workload is all valid. */
async function readDeadLetters(env: FaultEnv): Promise<number> {
  const admin = env.kafka.kafka.admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    let count = 0;
    for (const topic of [env.topics.sessionEvents, env.topics.channelEvents].map((t) => `${t}.DLT`)) {
      if (!topics.includes(topic)) continue;
      for (const p of await admin.fetchTopicOffsets(topic)) count += Number(p.high) - Number(p.low);
    }
    return count;
  } finally {
    await admin.disconnect();
  }
}
