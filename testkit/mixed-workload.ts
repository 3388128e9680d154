/**
 * The benchmarks' traffic: a deterministic (seeded) mix of what the chat and signaling servers
 * send, keyed by userId like the peers. Every scenario applies the same events, so the figures
 * compare like with like.
 *
 * Per user, in order: CONNECT (1-3 guilds), sometimes a second device's CONNECT, JOIN of a voice
 * channel, sometimes a move (JOIN of another channel of the guild), sometimes LEAVE, the second
 * device's DISCONNECT, and for half of the users the last DISCONNECT. Users' streams are interleaved
 * at random, keeping each user's own order.
 */

export const SNOWFLAKE_BASE = 300_000_000_000_000_000n;
export const USER_BASE = SNOWFLAKE_BASE;
export const GUILD_BASE = SNOWFLAKE_BASE + 900_000_000_000_000n;
export const CHANNEL_BASE = SNOWFLAKE_BASE + 950_000_000_000_000n;
/** Users per guild in the generated traffic (a guild's channels stay small, like real ones). */
const USERS_PER_GUILD = 50;
export const CHANNELS_PER_GUILD = 10;

export type Topic = 'session' | 'channel';

export interface BenchEvent {
  topic: Topic;
  /** Partition key: the userId, as the peers key their records. */
  key: string;
  /** The record value: JSON with ids as bare 18-digit numbers, as Jackson writes a Java long. */
  value: string;
  /** Parsed form, for the original algorithm (which gets ids as text, as Jackson would give a long). */
  event: {
    type: string;
    sessionId?: string;
    userId: string;
    state?: string;
    guildIds?: string[];
    guildId?: string;
    channelId?: string;
    serverId?: string;
  };
}

/** mulberry32: a small, fast, seeded generator. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const userId = (i: number) => (USER_BASE + BigInt(i)).toString();
export const guildId = (i: number) => (GUILD_BASE + BigInt(i)).toString();
export const channelId = (guild: number, c: number) => (CHANNEL_BASE + BigInt(guild * CHANNELS_PER_GUILD + c)).toString();

/** JSON with the listed id fields written as bare numbers (every digit kept). */
export function eventJson(event: BenchEvent['event']): string {
  const parts: string[] = [`"type":"${event.type}"`];
  if (event.sessionId !== undefined) parts.push(`"sessionId":"${event.sessionId}"`);
  if (event.userId !== undefined && !(event.type === 'DISCONNECT' && event.userId === '')) parts.push(`"userId":${event.userId}`);
  if (event.state !== undefined) parts.push(`"state":"${event.state}"`);
  if (event.guildIds !== undefined) parts.push(`"guildIds":[${event.guildIds.join(',')}]`);
  if (event.guildId !== undefined) parts.push(`"guildId":${event.guildId}`);
  if (event.channelId !== undefined) parts.push(`"channelId":${event.channelId}`);
  if (event.serverId !== undefined) parts.push(`"serverId":"${event.serverId}"`);
  return `{${parts.join(',')}}`;
}

function make(topic: Topic, event: BenchEvent['event']): BenchEvent {
  return { topic, key: event.userId, value: eventJson(event), event };
}

/** One user's events, in the order their peers would send them. */
function userEvents(u: number, users: number, random: () => number, runId: string): BenchEvent[] {
  const id = userId(u);
  const guilds = Math.max(1, Math.ceil(users / USERS_PER_GUILD));
  const home = Math.floor(random() * guilds);
  const guildIds = [guildId(home)];
  const extraGuilds = Math.floor(random() * 3);
  for (let g = 0; g < extraGuilds; g++) guildIds.push(guildId(Math.floor(random() * guilds)));
  const serverId = `chat-${u % 8}`;
  const first = `${runId}-${u}-a`;
  const second = `${runId}-${u}-b`;
  const multi = random() < 0.3;
  const events: BenchEvent[] = [];
  const connect = (sessionId: string) =>
    make('session', { type: 'CONNECT', sessionId, userId: id, state: 'online', guildIds: [...new Set(guildIds)], serverId });
  events.push(connect(first));
  if (multi) events.push(connect(second));
  const ch = Math.floor(random() * CHANNELS_PER_GUILD);
  events.push(make('channel', { type: 'JOIN', userId: id, guildId: guildId(home), channelId: channelId(home, ch) }));
  let seat = ch;
  if (random() < 0.4) {
    seat = (ch + 1 + Math.floor(random() * (CHANNELS_PER_GUILD - 1))) % CHANNELS_PER_GUILD;
    events.push(make('channel', { type: 'JOIN', userId: id, guildId: guildId(home), channelId: channelId(home, seat) }));
  }
  if (random() < 0.5) events.push(make('channel', { type: 'LEAVE', userId: id, guildId: guildId(home), channelId: channelId(home, seat) }));
  if (multi) events.push(make('session', { type: 'DISCONNECT', sessionId: second, userId: id, state: 'offline' }));
  if (random() < 0.5) events.push(make('session', { type: 'DISCONNECT', sessionId: first, userId: id, state: 'offline' }));
  return events;
}

export interface Workload {
  events: BenchEvent[];
  users: number;
  /** USER:STATE as it must be once every event is applied (session events of a user share a partition). */
  expectedStates: Map<string, string>;
}

/** At least `count` events (whole users' streams), interleaved at random. */
export function mixedWorkload(count: number, seed = 42, runId = 'bench'): Workload {
  const random = seeded(seed);
  // ~4.3 events per user on average; generate users until there are enough events.
  const streams: BenchEvent[][] = [];
  let total = 0;
  const estimatedUsers = Math.ceil(count / 4.3);
  while (total < count) {
    const s = userEvents(streams.length, estimatedUsers, random, runId);
    streams.push(s);
    total += s.length;
  }
  // The state a user's last event carried, except that ending one of several live sessions changes nothing.
  const expectedStates = new Map<string, string>();
  for (const s of streams) {
    const live = new Set<string>();
    for (const { topic, event } of s) {
      if (topic !== 'session') continue;
      if (event.type === 'CONNECT') {
        live.add(event.sessionId!);
        expectedStates.set(event.userId, event.state!);
      } else if (live.delete(event.sessionId!) && live.size === 0) {
        expectedStates.set(event.userId, event.state!);
      }
    }
  }
  // Interleave: draw a random live stream each time (swap-remove keeps it O(1)).
  const cursors = streams.map(() => 0);
  const live = streams.map((_, i) => i);
  const events: BenchEvent[] = [];
  while (live.length > 0) {
    const pick = Math.floor(random() * live.length);
    const u = live[pick];
    events.push(streams[u][cursors[u]++]);
    if (cursors[u] === streams[u].length) {
      live[pick] = live[live.length - 1];
      live.pop();
    }
  }
  return { events, users: streams.length, expectedStates };
}

/** A stable hash of the key (FNV-1a): which of `partitions` streams a user's events go to. */
export function partitionOf(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % partitions;
}

/** Splits events into per-(topic, partition) streams, each in order, as a consumer would see them. */
export function byPartition(events: readonly BenchEvent[], partitions: number): BenchEvent[][] {
  const streams = new Map<string, BenchEvent[]>();
  for (const e of events) {
    const id = `${e.topic}/${partitionOf(e.key, partitions)}`;
    let s = streams.get(id);
    if (!s) streams.set(id, (s = []));
    s.push(e);
  }
  return [...streams.values()];
}
