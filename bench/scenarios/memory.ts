import { StateHarness } from '../../testkit/state-harness';
import { startTestRedis } from '../../testkit/redis-server';
import { BENCH_ENV, BenchContext } from '../lib/context';
import { Figure, log, progress, ratio, round, ScenarioResult } from '../lib/report';
import { channelId, CHANNELS_PER_GUILD, guildId, userId } from '../../testkit/mixed-workload';

const USERS_PER_GUILD = 100;
const BATCH = 2000;

const usedMemory = async (harness: StateHarness) => Number((await harness.redis.info('memory')).match(/used_memory:(\d+)/)![1]);

interface Measured {
  perUser: number;
  before: number;
  after: number;
  keys: number;
  perKey: Record<string, number>;
  /** Stream on only: the change stream's keys left un-relayed, and the records they hold. */
  outbox?: { bytes: number; records: number; overflowFields: number; keys: Record<string, number> };
}

/**
 * N online users applied through the service's own path on a Redis of their own; used_memory's
 * delta / N, and MEMORY USAGE of each per-user key type (sampled). `changeTopic`: as CHANGE_TOPIC
 * ('' is off: no outbox record is written).
 */
async function measure(n: number, changeTopic: string): Promise<Measured> {
  const redis = await startTestRedis({ own: true });
  const harness = new StateHarness(redis.url, { ...BENCH_ENV, CHANGE_TOPIC: changeTopic });
  try {
    await harness.ready();
    const user = (i: number) => {
      const g = Math.floor(i / USERS_PER_GUILD);
      return { id: userId(80_000_000 + i), guild: guildId(3_000_000 + g), channel: channelId(3_000_000 + g, i % CHANNELS_PER_GUILD) };
    };
    const apply = async (from: number, to: number) => {
      const users = Array.from({ length: to - from }, (_, k) => ({ ...user(from + k), k: from + k }));
      await harness.session(
        ...users.map(
          (u) =>
            `{"type":"CONNECT","sessionId":"m-${u.k}","userId":${u.id},"state":"online","guildIds":[${u.guild}],"serverId":"chat-${u.k % 8}"}`,
        ),
      );
      await harness.channel(...users.map((u) => `{"type":"JOIN","userId":${u.id},"guildId":${u.guild},"channelId":${u.channel}}`));
    };
    await apply(n, n + 1); // scripts loaded, shared keys created: not counted
    // The change stream's keys (redis-keys.ts): the outbox stream and its overflow hash, per bucket.
    const { layout } = harness.store;
    const outboxKeys = layout.buckets.flatMap((b) => [layout.changeOutbox(b), layout.changeOverflow(b)]);
    // The one user above wrote its records to the outbox: emptied, so that it holds only the N users' records.
    await harness.redis.del(...outboxKeys);
    const before = await usedMemory(harness);
    let done = 0;
    const shown = progress(
      `online users, change stream ${changeTopic ? 'on' : 'off'}`,
      () => `${done.toLocaleString()} / ${n.toLocaleString()}`,
    );
    try {
      for (; done < n; done = Math.min(n, done + BATCH)) await apply(done, Math.min(n, done + BATCH));
    } finally {
      shown.stop();
    }
    const after = await usedMemory(harness);
    // Where it goes: MEMORY USAGE of each per-user key type, sampled.
    const sample = Array.from({ length: 200 }, (_, k) => Math.floor((k * n) / 200));
    const keyTypes: Record<string, (i: number) => string> = {
      'SESSION:<id>': (i) => `SESSION:m-${i}`,
      'USER_SESSIONS:<user>': (i) => `USER_SESSIONS:${user(i).id}`,
      'USER_GUILDS:<user>': (i) => `USER_GUILDS:${user(i).id}`,
      'USER_VOICE:<user>': (i) => `USER_VOICE:${user(i).id}`,
    };
    const perKey: Record<string, number> = {};
    for (const [name, key] of Object.entries(keyTypes)) {
      let sum = 0;
      for (const i of sample) sum += Number(await harness.redis.memory('USAGE', key(i), 'SAMPLES', '0'));
      perKey[name] = round(sum / sample.length, 1);
    }
    let outbox: Measured['outbox'];
    if (changeTopic) {
      outbox = { bytes: 0, records: 0, overflowFields: 0, keys: {} };
      for (const key of outboxKeys) {
        if ((await harness.redis.exists(key)) === 0) continue;
        const bytes = Number(await harness.redis.memory('USAGE', key, 'SAMPLES', '0'));
        outbox.keys[key] = bytes;
        outbox.bytes += bytes;
        if ((await harness.redis.type(key)) === 'stream') outbox.records += await harness.redis.xlen(key);
        else outbox.overflowFields += await harness.redis.hlen(key);
      }
    }
    return { perUser: (after - before) / n, before, after, keys: await harness.redis.dbsize(), perKey, outbox };
  } finally {
    harness.close();
    await redis.stop();
  }
}

/**
 * Redis bytes per online user, as a running service holds them: measured with the change stream
 * off, since with it on the outbox holds every record until the relay (not run here) has put it on
 * Kafka, and a running service's relay keeps it near empty. Then again with the stream on and
 * nothing relayed: what the un-relayed outbox costs per record, reported on its own.
 */
export async function memoryScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const n = ctx.memoryUsers;
  const off = await measure(n, '');
  log(`  change stream off: ${round(off.perUser)} bytes per online user (${n.toLocaleString()} users, ${off.keys.toLocaleString()} keys)`);
  const on = await measure(n, 'stateChanged');
  const outbox = on.outbox!;
  const outboxPerRecord = outbox.records > 0 ? outbox.bytes / (outbox.records + outbox.overflowFields) : 0;
  const statePerUserOn = (on.after - on.before - outbox.bytes) / n;
  log(
    `  change stream on, nothing relayed: ${round(on.perUser)} bytes per online user, of which the outbox ${round(outbox.bytes / n)} ` +
      `(${outbox.records.toLocaleString()} records${outbox.overflowFields ? ` + ${outbox.overflowFields.toLocaleString()} overflow fields` : ''}, ` +
      `${round(outboxPerRecord)} B each); the rest ${round(statePerUserOn)} B`,
  );
  const figures: Figure[] = [
    { name: 'Redis bytes per online user', value: Math.round(off.perUser), unit: 'B' },
    {
      name: 'Redis bytes per online user, change stream on, outbox not relayed',
      value: Math.round(on.perUser),
      unit: 'B',
      baselineName: 'stream off',
      baseline: Math.round(off.perUser),
      ratio: ratio(on.perUser, off.perUser),
    },
    { name: 'un-relayed outbox: bytes per change record', value: Math.round(outboxPerRecord), unit: 'B' },
    { name: 'un-relayed outbox: change records per online user', value: round((outbox.records + outbox.overflowFields) / n, 2), unit: '' },
    {
      name: 'Redis bytes per online user, change stream on, without the outbox',
      value: Math.round(statePerUserOn),
      unit: 'B',
      baselineName: 'stream off',
      baseline: Math.round(off.perUser),
      ratio: ratio(statePerUserOn, off.perUser),
    },
  ];
  return {
    scenario: 'memory',
    description:
      `Redis used_memory delta / N for N online users, each with one session (with serverId), one guild (${USERS_PER_GUILD} users per guild) and one voice seat ` +
      `(${CHANNELS_PER_GUILD} channels per guild), applied through the service's apply path on a Redis of its own. Shared structures (USER:STATE, GUILD:<id>, ` +
      'GUILD_ONLINE:<id>, SERVER_SESSIONS:<id>) are included in the delta. The headline figure is measured with the change stream off (CHANGE_TOPIC=): ' +
      'it is the state a running service holds, whose relay keeps the change outbox near empty. No relay runs here, so with the stream on (second run, fresh Redis) ' +
      'every change record stays in CHANGE_OUTBOX (past CHANGE_OUTBOX_LIMIT, the latest per key in CHANGE_OVERFLOW): their MEMORY USAGE is reported on its own, ' +
      'per record, and taken out of the delta for the last figure.',
    params: { users: n, usersPerGuild: USERS_PER_GUILD },
    figures,
    details: {
      streamOff: { usedMemoryBefore: off.before, usedMemoryAfter: off.after, keys: off.keys, memoryUsagePerKeyBytes: off.perKey },
      streamOn: {
        usedMemoryBefore: on.before,
        usedMemoryAfter: on.after,
        keys: on.keys,
        memoryUsagePerKeyBytes: on.perKey,
        outbox,
      },
    },
  };
}
