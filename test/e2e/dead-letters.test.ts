import { readTopic } from '../../testkit/kafka';
import { getJson } from '../../testkit/app';
import { startStack, TestStack, waitUntilConsumed } from '../../testkit/stack';

/** Bad events go to <topic>.DLT with the reason; they never block the partition or lose the good events around them. */
let stack: TestStack;
beforeAll(async () => (stack = await startStack('dlt', { partitions: 1, env: { MAX_EVENT_BYTES: '4096' } })));
afterAll(() => stack?.stop());

it('dead-letters every kind of bad session event with its reason and applies the good ones around them', async () => {
  const topic = stack.topics.sessionEvents;
  const bad: [string, string | null, RegExp][] = [
    ['not json', '{"type":"CONNECT",', /not valid JSON/],
    ['empty', null, /no value/],
    ['unknown type', '{"type":"LOGIN","sessionId":"x","userId":1}', /type must be one of/],
    ['wrong type of id', '{"type":"CONNECT","sessionId":"x","userId":"abc"}', /userId must be a decimal integer id/],
    ['missing field', '{"type":"CONNECT","userId":5}', /sessionId is required/],
    [
      'oversized',
      JSON.stringify({ type: 'CONNECT', sessionId: 'big', userId: 1, pad: 'x'.repeat(5000) }),
      /exceeds the limit of 4096 bytes/,
    ],
    ['array', '[1,2,3]', /must be a JSON object/],
  ];
  const messages = [
    { key: '1', value: '{"type":"CONNECT","sessionId":"good-1","userId":1,"state":"online"}' },
    ...bad.map(([name, value]) => ({ key: name, value })),
    { key: '2', value: '{"type":"CONNECT","sessionId":"good-2","userId":2,"state":"online"}' },
  ];
  await stack.peers.sendMany(topic, messages);
  await waitUntilConsumed(stack);

  const { body } = await getJson(`${stack.app.url}/guilds/1/states?userIds=1,2`);
  expect(body.connectionStates).toEqual({ '1': 'online', '2': 'online' });

  const letters = await readTopic(stack.kafka.kafka, `${topic}.DLT`, bad.length);
  expect(letters).toHaveLength(bad.length);
  for (const [name, value, reason] of bad) {
    const letter = letters.find((l) => l.key === name)!;
    expect(letter).toBeDefined();
    expect(letter.value).toBe(value);
    expect(letter.headers['kafka_dlt-exception-message']!.toString()).toMatch(reason);
    expect(letter.headers['kafka_dlt-original-topic']!.toString()).toBe(topic);
    expect(letter.headers['kafka_dlt-original-partition']!.readInt32BE()).toBe(0);
    expect(letter.headers['kafka_dlt-original-offset']!.readBigInt64BE()).toBeGreaterThan(0n);
  }
});

it('dead-letters bad channel events too', async () => {
  const topic = stack.topics.channelEvents;
  await stack.peers.sendMany(topic, [
    { key: '3', value: '{"type":"JOIN","userId":3,"guildId":30,"channelId":300}' },
    { key: 'bad', value: '{"type":"JOIN","userId":3,"guildId":30}' },
    { key: '4', value: '{"type":"JOIN","userId":4,"guildId":30,"channelId":300}' },
  ]);
  await waitUntilConsumed(stack);
  const { body } = await getJson(`${stack.app.url}/guilds/30/states?userIds=3,4`);
  expect(body.channelStates).toEqual({ '300': ['3', '4'] });
  const [letter] = await readTopic(stack.kafka.kafka, `${topic}.DLT`, 1);
  expect(letter.headers['kafka_dlt-exception-message']!.toString()).toMatch(/channelId is required/);
});

it('counts dead letters in /metrics', async () => {
  const { body } = await getJson(`${stack.app.url}/metrics`);
  const line = (body as string)
    .split('\n')
    .find(
      (l) =>
        l.startsWith('state_server_events_total') && l.includes(`topic="${stack.topics.sessionEvents}"`) && l.includes('dead_lettered'),
    );
  expect(line).toMatch(/ 7$/);
});
