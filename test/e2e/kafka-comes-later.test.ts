import { Kafka, logLevel } from 'kafkajs';
import { EmbeddedKafka, startEmbeddedKafka } from '@state-server/embedded-kafka';
import { eventually, getJson } from '../../testkit/app';
import { freePort } from '../../testkit/free-port';
import { kafkaEnv, uniqueTopics } from '../../testkit/kafka';
import { Peers } from '../../testkit/peers';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { ServiceProcess } from '../../testkit/service-process';

/**
 * An operator starts the service before Kafka is up (or before the topics are created): HTTP comes
 * up anyway, /health/ready answers 503 at once naming the cause, the log has one line per attempt
 * to reach Kafka, and the service consumes as soon as Kafka answers. Runs the built service
 * (dist/main.js) against the embedded broker, started later on the port the service was given.
 */
let redis: TestRedis;
let broker: EmbeddedKafka | undefined;
let service: ServiceProcess | undefined;

beforeAll(async () => {
  redis = await startTestRedis();
});

afterEach(async () => {
  await service?.stop();
  await broker?.stop();
  service = broker = undefined;
  await redis.flush();
});

afterAll(async () => {
  await redis.stop();
});

/** The service's JSON log lines. */
const logs = (s: ServiceProcess) =>
  s.output.flatMap((line) => {
    try {
      return [JSON.parse(line) as { level: string; context?: string; msg: string }];
    } catch {
      return [];
    }
  });

/** Waits (bounded) until HTTP answers, then expects /health/ready to say 503 with `reason` within 5 s (the reason is set by the first connection attempt). */
async function expectNotReadyBecause(s: ServiceProcess, reason: RegExp): Promise<void> {
  await eventually(async () => expect(await s.status('/health/live')).toBe(200), 30000, 50);
  const body = await eventually(
    async () => {
      const { status, body } = await getJson(`${s.url}/health/ready`);
      expect(status).toBe(503);
      expect(body.error.kafka.message).toMatch(reason);
      return body;
    },
    5000,
    50,
  );
  expect(body.details.kafka.status).toBe('down');
}

/** Produces one CONNECT and waits (bounded) until the service answers that the user is online. */
async function expectConsumed(s: ServiceProcess, brokers: string[], topics: ReturnType<typeof uniqueTopics>): Promise<void> {
  const peers = await Peers.connect(new Kafka({ clientId: 'late-peer', brokers, logLevel: logLevel.NOTHING }), topics);
  try {
    await peers.connect('late-session', 4242, { guildIds: [7] });
    await eventually(
      async () => {
        const { status, body } = await getJson(`${s.url}/guilds/7/states?userIds=4242`);
        expect(status).toBe(200);
        expect(body.connectionStates).toEqual({ 4242: 'online' });
      },
      30000,
      100,
    );
  } finally {
    await peers.close();
  }
  expect(await s.status('/health/ready')).toBe(200);
}

it('serves HTTP and says why it is not ready while the broker is down, then consumes once it is up', async () => {
  const port = await freePort();
  const topics = uniqueTopics('late-kafka');
  service = await ServiceProcess.start(
    {
      ...kafkaEnv([`127.0.0.1:${port}`], topics),
      REDIS_URL: redis.url,
    },
    'service',
    { waitUntilReady: false },
  );
  await expectNotReadyBecause(
    service,
    new RegExp(`^cannot reach 127\\.0\\.0\\.1:${port} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)$`),
  );

  // One warn line per attempt, with the cause; none of kafkajs's own per-retry error lines.
  const s = service;
  await eventually(
    () => expect(logs(s).filter((l) => /^Kafka not available \(attempt \d+\)/.test(l.msg)).length).toBeGreaterThanOrEqual(3),
    10000,
    100,
  );
  const attempts = logs(service).filter((l) => l.msg.startsWith('Kafka not available'));
  expect(
    attempts.every((l) => l.level === 'warn' && l.msg.includes(`cannot reach 127.0.0.1:${port}`) && /retrying in \d/.test(l.msg)),
  ).toBe(true);
  expect(attempts.map((l) => Number(/attempt (\d+)/.exec(l.msg)![1]))).toEqual(attempts.map((_, i) => i + 1));
  expect(logs(service).filter((l) => l.context === 'Kafka')).toEqual([]);
  // A new deployment's Redis has no state marker yet: that is not a lost state (no alarm, no rebuild).
  expect(logs(service).filter((l) => l.level === 'error')).toEqual([]);

  broker = await startEmbeddedKafka({ port });
  await expectConsumed(service, broker.brokers, topics);
  expect(logs(service).filter((l) => l.level === 'error' || /State lost|state was lost/.test(l.msg))).toEqual([]);
  const metrics = (await getJson(`${service.url}/metrics`)).body as string;
  expect(metrics).toMatch(/^state_server_rebuilds_total 0$/m);
}, 120000);

it('names the missing topic when the broker does not create topics, and consumes once it is created', async () => {
  broker = await startEmbeddedKafka({ autoCreateTopics: false });
  const topics = uniqueTopics('missing-topic');
  const admin = new Kafka({ clientId: 'operator', brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: topics.channelEvents, numPartitions: 2 }], waitForLeaders: true });
    service = await ServiceProcess.start(
      {
        ...kafkaEnv(broker.brokers, topics),
        REDIS_URL: redis.url,
      },
      'service',
      { waitUntilReady: false },
    );
    await expectNotReadyBecause(
      service,
      new RegExp(`^topic ${topics.sessionEvents} does not exist and the broker does not create topics automatically`),
    );

    await admin.createTopics({ topics: [{ topic: topics.sessionEvents, numPartitions: 2 }], waitForLeaders: true });
    await expectConsumed(service, broker.brokers, topics);
  } finally {
    await admin.disconnect();
  }
}, 120000);

it('names the real cause when Redis is unreachable too', async () => {
  const [kafkaPort, redisPort] = [await freePort(), await freePort()];
  service = await ServiceProcess.start(
    { KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`, REDIS_URL: `redis://127.0.0.1:${redisPort}` },
    'service',
    { waitUntilReady: false },
  );
  await expectNotReadyBecause(service, /^cannot reach /);
  const s = service;
  const { body } = await eventually(
    async () => {
      const reply = await getJson(`${s.url}/health/ready`);
      expect(reply.body.error.redis.message).toBe(`connect ECONNREFUSED 127.0.0.1:${redisPort}`);
      return reply;
    },
    5000,
    50,
  );
  expect(body.status).toBe('error');
});
