import { converged, eventsSeen, eventually, FaultEnv, produce, startFaultEnv } from '../../testkit/fault-env';
import { readObservableState } from '../../testkit/observed-state';
import { ServiceProcess } from '../../testkit/service-process';
import { StoryWorkload } from '../../testkit/story-workload';

/**
 * The service SIGKILLed in the middle of applying a backlog (no graceful shutdown: batches half
 * applied, offsets not committed) and started again, twice: the replay from the committed offsets
 * re-applies what was already applied, and the end state is still the model's. Then, to prove
 * idempotence rather than hope the kills hit the window between apply and commit, every record
 * is applied once more (a fresh consumer group from the earliest offset): nothing changes.
 */

let env: FaultEnv;
let service: ServiceProcess;

beforeAll(async () => {
  env = await startFaultEnv('service-crash');
  service = await ServiceProcess.start(env.serviceEnv);
});
afterAll(async () => {
  await service?.stop();
  await env?.stop();
});

it('reaches the model state after being killed mid-batch and restarted', async () => {
  const workload = new StoryWorkload({ users: 2000, seed: 21 });
  for (let kill = 0; kill < 2; kill++) {
    // A fresh backlog each time, so that there is one to be in the middle of however fast the
    // service drained the previous one; killed as soon as it has applied some of it.
    await produce(env, Array.from({ length: 4 }, () => workload.round(2000)).flat());
    await eventually(
      async () => expect((await eventsSeen(service, 'applied')) + (await eventsSeen(service, 'duplicate'))).toBeGreaterThan(500),
      30000,
      5,
    );
    expect(await service.kill('SIGKILL')).toBeNull();
    await service.restart();
  }
  await converged(env, workload);

  await service.stop();
  service = await ServiceProcess.start({
    ...env.serviceEnv,
    KAFKA_GROUP_ID: `${env.serviceEnv.KAFKA_GROUP_ID}-again`,
    KAFKA_FROM_BEGINNING: 'true',
  });
  // Every record again, each counted once (applied, duplicate, stale or ignored: a user's replayed
  // moves change the state on the way, hence not all "duplicate")...
  const seen = async () =>
    (await Promise.all((['applied', 'duplicate', 'stale', 'ignored'] as const).map((o) => eventsSeen(service, o)))).reduce(
      (a, b) => a + b,
      0,
    );
  await eventually(async () => expect(await seen()).toBe(workload.produced), 30000, 200);
  // ...and the end state is unchanged.
  await converged(env, workload);

  // Live traffic after the crashes is applied too: every new record counted, and the model's state.
  await produce(env, workload.round(500));
  await eventually(async () => expect(await seen()).toBe(workload.produced), 30000, 200);
  await converged(env, workload);
  expect(Object.keys((await readObservableState(env.redis.client)).userStates).length).toBeGreaterThan(1000);
}, 150000);
