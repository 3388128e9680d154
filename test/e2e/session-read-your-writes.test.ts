import { Admin, AssignerProtocol } from 'kafkajs';
import { eventually, RunningApp, startTestApp, waitUntilReady } from '../../testkit/app';
import { createTopics, kafkaEnv, startTestKafka, TestKafka, uniqueTopics } from '../../testkit/kafka';
import { metricsText, readMetric } from '../../testkit/metrics';
import { ChatServer } from '../../testkit/platform-peers';
import { startTestRedis, TestRedis } from '../../testkit/redis-server';
import { ServiceProcess } from '../../testkit/service-process';
import { waitUntilConsumed } from '../../testkit/stack';

/**
 * Read-your-writes on the chat server's HTTP DISCONNECT (docs/rules.md), with the partitions spread
 * over two instances: instance A (in this process) answers HTTP, instance B (a child process)
 * consumes some of the session topic's partitions. A CONNECT acknowledged by Kafka on one of B's
 * partitions is usually not applied yet when A gets the DISCONNECT; A's answer must still see it,
 * and say in X-Session-Wait how its wait ended.
 */
const PARTITIONS = 4;
const topics = uniqueTopics('ryw');
let kafka: TestKafka;
let redis: TestRedis;
let admin: Admin;
let env: Record<string, string>;
let a: RunningApp;
let b: ServiceProcess | undefined;
let chat: ChatServer;

beforeAll(async () => {
  [kafka, redis] = await Promise.all([startTestKafka(), startTestRedis({ persistent: true })]);
  await redis.flush();
  await createTopics(kafka.kafka, [topics.sessionEvents, topics.channelEvents], PARTITIONS);
  env = { ...kafkaEnv(kafka.brokers, topics), ...redis.env };
  a = await startTestApp({ ...env, KAFKA_CLIENT_ID: 'instance-a' });
  await waitUntilReady(a.url);
  chat = await ChatServer.start(kafka.kafka, topics.sessionEvents, a.url);
  admin = kafka.kafka.admin();
  await admin.connect();
}, 60000);
afterAll(async () => {
  await b?.stop();
  await chat?.stop().catch(() => undefined);
  await admin?.disconnect();
  await a?.close();
  await redis?.stop();
  await kafka?.stop();
});

/** The chat server's DISCONNECT, with the X-Session-Wait header of the answer. */
async function disconnect(url: string, sessionId: string) {
  const res = await fetch(`${url}/api/state/update/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sessionId, type: 'DISCONNECT', state: 'offline' }),
  });
  const body = (await res.json()) as { code: number; message: string; isSuccess: boolean; result: string | null };
  return { status: res.status, wait: res.headers.get('x-session-wait'), body };
}

/** The answer for a session no CONNECT was applied for, given before the wait's end for `reason`. */
const unknownSessionCutShort = (reason: string) => ({
  status: 200,
  wait: reason,
  body: {
    code: 200,
    message: `unknown session; answered before every session record already in Kafka was applied (${reason})`,
    isSuccess: false,
    result: null,
  },
});

/** Per instance (by its KAFKA_CLIENT_ID): the partitions of each topic the group gave it. */
async function assignments(): Promise<Map<string, Record<string, number[]>>> {
  const { groups } = await admin.describeGroups([topics.groupId]);
  const result = new Map<string, Record<string, number[]>>();
  for (const member of groups[0]?.members ?? []) {
    const decoded = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
    result.set(member.clientId, decoded?.assignment ?? {});
  }
  return result;
}

/** The session-topic partitions an instance holds, once the group is settled with it in. */
async function sessionPartitionsOf(clientId: string): Promise<number[]> {
  let partitions: number[] = [];
  await eventually(async () => {
    partitions = (await assignments()).get(clientId)?.[topics.sessionEvents] ?? [];
    expect(partitions.length).toBeGreaterThan(0);
  }, 30000);
  return partitions;
}

/** The partitions ("topic[partition]") an instance reports consumer lag for. */
async function lagReported(url: string): Promise<string[]> {
  const lines = (await metricsText(url)).split('\n').filter((line) => line.startsWith('state_server_consumer_lag{'));
  return lines.map((line) => /topic="([^"]+)",partition="(\d+)"/.exec(line)!.slice(1, 3)).map(([t, p]) => `${t}[${p}]`);
}

it('reports consumer lag only for the partitions an instance holds, after a rebalance gave some to another', async () => {
  for (let partition = 0; partition < PARTITIONS; partition++)
    await chat.connect(`lag-${partition}`, 4900 + partition, 'online', { partition });
  await eventually(async () =>
    expect((await lagReported(a.url)).filter((p) => p.startsWith(topics.sessionEvents))).toHaveLength(PARTITIONS),
  );

  b = await ServiceProcess.start({ ...env, KAFKA_CLIENT_ID: 'instance-b' }, 'instance-b');
  const ofB = await sessionPartitionsOf('instance-b');
  await eventually(async () => {
    const held = (await assignments()).get('instance-a') ?? {};
    const mine = Object.entries(held).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}[${p}]`));
    expect(mine.length).toBeGreaterThan(0);
    const reported = await lagReported(a.url);
    expect(reported.filter((p) => !mine.includes(p))).toEqual([]);
    expect(reported).not.toContain(`${topics.sessionEvents}[${ofB[0]}]`);
  }, 30000);
}, 90000);

it("answers the user of a DISCONNECT whose CONNECT was acknowledged by Kafka but not applied yet (another instance's partition)", async () => {
  const [partition] = await sessionPartitionsOf('instance-b');
  const answers = [];
  for (let i = 0; i < 20; i++) {
    await chat.connect(`ryw-${i}`, 5000 + i, 'online', { partition });
    answers.push({ userId: String(5000 + i), ...(await disconnect(a.url, `ryw-${i}`)) });
  }
  // Answers labelled as cut short are not judged (a loaded machine may stall B for 100 ms); most must have waited to the end.
  const complete = answers.filter((answer) => answer.wait === 'complete');
  expect(complete.length).toBeGreaterThanOrEqual(15);
  for (const answer of complete)
    expect({ result: answer.body.result, isSuccess: answer.body.isSuccess }).toEqual({ result: answer.userId, isSuccess: true });
}, 60000);

it("answers null for one device's DISCONNECT while the user's other device's CONNECT is in Kafka, not applied yet", async () => {
  const [partition] = await sessionPartitionsOf('instance-b');
  for (let i = 0; i < 20; i++) await chat.connect(`phone-${i}`, 5100 + i);
  await waitUntilConsumed({ kafka, topics });
  const answers = [];
  for (let i = 0; i < 20; i++) {
    await chat.connect(`desktop-${i}`, 5100 + i, 'online', { partition });
    answers.push(await disconnect(a.url, `phone-${i}`));
  }
  const complete = answers.filter((answer) => answer.wait === 'complete');
  expect(complete.length).toBeGreaterThanOrEqual(15);
  for (const answer of complete) {
    expect(answer.body).toEqual({
      code: 200,
      message: 'session ended; the user is still online on another session',
      isSuccess: true,
      result: null,
    });
  }
}, 60000);

it('holds a DISCONNECT that came before its CONNECT reached Kafka until that CONNECT uses up its pending marker', async () => {
  const [partition] = (await assignments()).get('instance-a')?.[topics.sessionEvents] ?? [0];
  const answers = [];
  for (let i = 0; i < 5; i++) {
    const answering = disconnect(a.url, `quick-${i}`); // the socket closed before its CONNECT left the chat server
    await new Promise((resolve) => setTimeout(resolve, 20));
    await chat.connect(`quick-${i}`, 5150 + i, 'online', { partition });
    answers.push({ userId: String(5150 + i), ...(await answering) });
  }
  const complete = answers.filter((answer) => answer.wait === 'complete');
  expect(complete.length).toBeGreaterThanOrEqual(3);
  for (const answer of complete) {
    expect(answer.body).toEqual({ code: 200, message: 'session ended; the user is offline', isSuccess: true, result: answer.userId });
  }
}, 60000);

it('answers at once, labelled bound, with SESSION_ROUTE_WAIT_MS=0', async () => {
  const other = uniqueTopics('ryw-nowait').groupId;
  const noWait = await startTestApp({ ...env, KAFKA_GROUP_ID: other, SESSION_ROUTE_WAIT_MS: '0' });
  try {
    await waitUntilReady(noWait.url);
    const answer = await disconnect(noWait.url, 'never-connected');
    expect(answer).toEqual(unknownSessionCutShort('bound'));
    expect(await readMetric(noWait.url, 'state_server_session_route_early_answers_total', { reason: 'bound' })).toBe(1);
  } finally {
    await noWait.close();
  }
}, 60000);

it('does not wait for the DISCONNECTs it appended itself to be applied again, even on the partitions of a dead owner', async () => {
  // A third instance, short-lived: its partitions stand still once it is SIGKILLed, until the group drops it.
  const d = await ServiceProcess.start({ ...env, KAFKA_CLIENT_ID: 'instance-d', KAFKA_SESSION_TIMEOUT_MS: '6000' }, 'instance-d');
  try {
    await sessionPartitionsOf('instance-d');
    for (let i = 0; i < 12; i++) await chat.connect(`own-${i}`, 5250 + i);
    await waitUntilConsumed({ kafka, topics });
    expect(await d.kill('SIGKILL')).toBeNull();
    // Each DISCONNECT goes to its user's partition, some to the dead instance's: the later ones have the earlier ones behind their fence.
    const answers = [];
    for (let i = 0; i < 12; i++) answers.push({ userId: String(5250 + i), ...(await disconnect(a.url, `own-${i}`)) });
    for (const answer of answers)
      expect({ wait: answer.wait, result: answer.body.result }).toEqual({ wait: 'complete', result: answer.userId });
  } finally {
    await d.stop();
  }
  await eventually(async () => expect([...(await assignments()).keys()]).not.toContain('instance-d'), 30000);
}, 90000);

it('answers stalled while the partition behind has a dead owner, and waits to the end again once another instance took it over', async () => {
  const [partition] = await sessionPartitionsOf('instance-b');
  expect(await b!.kill('SIGKILL')).toBeNull();
  await chat.connect('stall-1', 5200, 'online', { partition });
  const stalled = await disconnect(a.url, 'stall-1');
  expect(stalled).toEqual(unknownSessionCutShort('stalled'));
  expect(await readMetric(a.url, 'state_server_session_route_early_answers_total', { reason: 'stalled' })).toBeGreaterThanOrEqual(1);
  // Once the group dropped B (its session timeout), A consumes that partition: the CONNECT used up the pending DISCONNECT.
  await eventually(async () => {
    const answer = await disconnect(a.url, 'stall-1');
    expect({ wait: answer.wait, result: answer.body.result }).toEqual({ wait: 'complete', result: '5200' });
  }, 40000);
}, 60000);

it('takes over the partitions of a gracefully stopped instance at once: it leaves the group instead of timing out', async () => {
  // Without a LeaveGroup its partitions would stand still for this session timeout (two minutes).
  const leaving = await ServiceProcess.start({ ...env, KAFKA_CLIENT_ID: 'instance-c', KAFKA_SESSION_TIMEOUT_MS: '120000' }, 'instance-c');
  b = leaving;
  const [partition] = await sessionPartitionsOf('instance-c');
  expect(await leaving.kill('SIGTERM')).toBe(0);
  await eventually(async () => expect((await assignments()).get('instance-a')?.[topics.sessionEvents]).toHaveLength(PARTITIONS), 30000);
  await chat.connect('after-stop', 5300, 'online', { partition });
  const answer = await disconnect(a.url, 'after-stop');
  expect({ wait: answer.wait, result: answer.body.result }).toEqual({ wait: 'complete', result: '5300' });
}, 90000);

it('answers as before, labelled unavailable, while Redis is down', async () => {
  await chat.connect('outage-1', 5400);
  await waitUntilConsumed({ kafka, topics });
  await redis.kill();
  try {
    const answer = await disconnect(a.url, 'outage-1');
    expect(answer).toEqual({
      status: 200,
      wait: 'unavailable',
      body: {
        code: 200,
        message:
          'recorded; the state store is unreachable, it is applied once it is back; answered before every session record already in Kafka was applied (unavailable)',
        isSuccess: true,
        result: null,
      },
    });
  } finally {
    await redis.restart();
  }
}, 60000);
