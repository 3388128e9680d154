import { StateHarness } from '../../testkit/state-harness';
import { startTestRedis } from '../../testkit/redis-server';
import { BENCH_ENV, BenchContext } from '../lib/context';
import { log, progress, round, ScenarioResult } from '../lib/report';
import { channelId, CHANNELS_PER_GUILD, guildId, userId } from '../../testkit/mixed-workload';

const USERS_PER_GUILD = 100;
const BATCH = 2000;

const usedMemory = async (harness: StateHarness) => Number((await harness.redis.info('memory')).match(/used_memory:(\d+)/)![1]);

/** Redis bytes per online user: one session, one guild, one voice seat, applied through the service's own path. */
export async function memoryScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const redis = await startTestRedis({ own: true });
  const harness = new StateHarness(redis.url, BENCH_ENV);
  try {
    await harness.ready();
    const n = ctx.memoryUsers;
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
    const before = await usedMemory(harness);
    let done = 0;
    const shown = progress('online users', () => `${done.toLocaleString()} / ${n.toLocaleString()}`);
    try {
      for (; done < n; done = Math.min(n, done + BATCH)) await apply(done, Math.min(n, done + BATCH));
    } finally {
      shown.stop();
    }
    const after = await usedMemory(harness);
    const perUser = (after - before) / n;
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
    const keys = await harness.redis.dbsize();
    log(`  ${round(perUser)} bytes per online user (${n.toLocaleString()} users, ${keys.toLocaleString()} keys)`);
    return {
      scenario: 'memory',
      description:
        `Redis used_memory delta / N for N online users, each with one session (with serverId), one guild (${USERS_PER_GUILD} users per guild) and one voice seat ` +
        `(${CHANNELS_PER_GUILD} channels per guild), applied through the service's apply path. Shared structures (USER:STATE, GUILD:<id>, GUILD_ONLINE:<id>, SERVER_SESSIONS:<id>) are included in the delta.`,
      params: { users: n, usersPerGuild: USERS_PER_GUILD },
      figures: [{ name: 'Redis bytes per online user', value: Math.round(perUser), unit: 'B' }],
      details: { usedMemoryBefore: before, usedMemoryAfter: after, keys, memoryUsagePerKeyBytes: perKey },
    };
  } finally {
    harness.close();
    await redis.stop();
  }
}
