import { parseJsonKeepingNumbersAsText } from '../common/lossless-json';
import { RedisClient } from '../redis/redis.module';
import { callRedis } from './redis-backend';
import { BucketCall, BucketRunner, ChannelMembers, Reply, StateStoreUnavailableError, UnreadableValue } from './state-types';

/** Most fields or members one read command asks for, so that no single command blocks Redis for long. */
const READ_CHUNK = 1000;

/** The reads of the state (queries, the session route, gauges): bounded commands, one round trip per node. */
export class StateReads {
  constructor(
    private readonly runner: BucketRunner,
    private readonly redis: RedisClient,
  ) {}

  /** States of the given users (null for users never seen) and the guild's voice channels, in one round trip per node. */
  async readGuild(
    guildId: string,
    userIds: readonly string[],
  ): Promise<{ states: (string | null)[]; channels: ChannelMembers; unreadable: UnreadableValue[] }> {
    const key = this.runner.layout.guildChannels(guildId);
    const reads = this.stateReads(userIds);
    const replies = await this.run([...reads.calls, { bucket: this.runner.layout.bucketOf(guildId), queue: (p) => p.hgetall(key) }]);
    return { states: reads.assemble(replies), ...parseChannels(key, replies[replies.length - 1][1] as Record<string, string>) };
  }

  /** States of the given users (null for users never seen), in one round trip per node of commands of at most READ_CHUNK fields. */
  async readStates(userIds: readonly string[]): Promise<(string | null)[]> {
    if (userIds.length === 0) return [];
    const reads = this.stateReads(userIds);
    return reads.assemble(await this.run(reads.calls));
  }

  /** Whether (userId, sessionId) has ended and how many live sessions the user has (the session route's answer), in one round trip. */
  async readSessionEnd(userId: string, sessionId: string): Promise<{ ended: boolean; liveSessions: number }> {
    const layout = this.runner.layout;
    const bucket = layout.bucketOf(userId);
    const [[, state], [, count]] = await this.run([
      { bucket, queue: (p) => p.hget(layout.session(userId, sessionId), 'state') },
      { bucket, queue: (p) => p.hlen(layout.userSessions(userId)) },
    ]);
    return { ended: state === 'ended', liveSessions: Number(count) };
  }

  /**
   * One page of a guild's presence: about `limit` of its online members from SSCAN position
   * `cursor` (start: "0"), with their states, and the guild's voice channels. The first page also
   * holds the users sitting in its channels. Read in bounded commands (SSCAN, HMGET of at most
   * READ_CHUNK fields), so a guild of any size never blocks Redis; pages are not one atomic view,
   * which a presence list does not need. `nextCursor` is undefined on the last page.
   */
  async readGuildPage(
    guildId: string,
    cursor: string,
    limit: number,
  ): Promise<{
    userIds: string[];
    states: (string | null)[];
    channels: ChannelMembers;
    unreadable: UnreadableValue[];
    nextCursor?: string;
  }> {
    const key = this.runner.layout.guildChannels(guildId);
    const onlineKey = this.runner.layout.guildOnline(guildId);
    const users = new Set<string>();
    let position = cursor;
    do {
      const [next, members] = await callRedis(() => this.redis.sscan(onlineKey, position, 'COUNT', Math.min(limit, READ_CHUNK)));
      position = next;
      for (const m of members) users.add(m);
    } while (position !== '0' && users.size < limit);
    const { channels, unreadable } = parseChannels(key, await callRedis(() => this.redis.hgetall(key)));
    if (cursor === '0') for (const members of Object.values(channels)) for (const m of members) users.add(m);
    const userIds = [...users];
    return { userIds, states: await this.readStates(userIds), channels, unreadable, ...(position !== '0' ? { nextCursor: position } : {}) };
  }

  /**
   * The presence totals for gauges, in O(1) per bucket: users ever seen (HLEN of USER:STATE, each
   * shard on a cluster) and the counters the scripts keep exact in STATE_COUNTERS (one per bucket
   * on a cluster, summed here; 0 before the first event that moves them). One round trip per node.
   */
  async readCounters(): Promise<{ knownUsers: number; onlineUsers: number; voiceSeats: number }> {
    const layout = this.runner.layout;
    const calls: BucketCall[] = [];
    for (const bucket of layout.buckets) {
      calls.push({ bucket, queue: (p) => p.hlen(layout.userStates(bucket)) });
      calls.push({ bucket, queue: (p) => p.hmget(layout.counters(bucket), 'online_users', 'voice_seats') });
    }
    const replies = await this.run(calls);
    const totals = { knownUsers: 0, onlineUsers: 0, voiceSeats: 0 };
    for (let i = 0; i < replies.length; i += 2) {
      const [online, seats] = replies[i + 1][1] as (string | null)[];
      totals.knownUsers += Number(replies[i][1]);
      totals.onlineUsers += Number(online ?? 0);
      totals.voiceSeats += Number(seats ?? 0);
    }
    return totals;
  }

  /** Runs read calls; any error reply makes the whole read unavailable. */
  private async run(calls: readonly BucketCall[]): Promise<Reply[]> {
    const replies = await this.runner.runInBuckets(calls);
    const failed = replies.find(([error]) => error);
    if (failed) throw new StateStoreUnavailableError(failed[0]!.message);
    return replies;
  }

  /** USER:STATE reads: HMGET per bucket shard, at most READ_CHUNK fields each; `assemble` puts the answers back in the order asked. */
  private stateReads(userIds: readonly string[]): { calls: BucketCall[]; assemble: (replies: Reply[]) => (string | null)[] } {
    const layout = this.runner.layout;
    if (layout.buckets.length === 1 && userIds.length > 0 && userIds.length <= READ_CHUNK) {
      // One bucket, one command: its reply is the answer, in the order asked (the usual query).
      const key = layout.userStates(0);
      return { calls: [{ bucket: 0, queue: (p) => p.hmget(key, ...userIds) }], assemble: (replies) => replies[0][1] as (string | null)[] };
    }
    const byBucket = new Map<number, number[]>();
    userIds.forEach((id, i) => {
      const bucket = layout.bucketOf(id);
      const list = byBucket.get(bucket) ?? [];
      list.push(i);
      byBucket.set(bucket, list);
    });
    const calls: (BucketCall & { members: number[] })[] = [];
    for (const [bucket, members] of byBucket) {
      for (let start = 0; start < members.length; start += READ_CHUNK) {
        const chunk = members.slice(start, start + READ_CHUNK);
        calls.push({ bucket, members: chunk, queue: (p) => p.hmget(layout.userStates(bucket), ...chunk.map((i) => userIds[i])) });
      }
    }
    return {
      calls,
      assemble: (replies) => {
        const states = new Array<string | null>(userIds.length).fill(null);
        calls.forEach((call, c) => (replies[c][1] as (string | null)[]).forEach((state, j) => (states[call.members[j]] = state)));
        return states;
      },
    };
  }
}

const ID_TEXT = '[1-9][0-9]{0,18}';
const CANONICAL_ID = new RegExp(`^${ID_TEXT}$`);
/** Our own spelling of a channel's members (the state library writes only this): ["1","2"]. */
const OWN_MEMBER_LIST = new RegExp(`^\\["${ID_TEXT}"(?:,"${ID_TEXT}")*\\]$`);

/**
 * GUILD:<id> values are JSON arrays of ids; read losslessly and tolerantly: another writer's
 * spelling (spaces, numbers) is parsed, a value that is not a JSON array of ids (the original
 * service's JDK-serialized bytes) is skipped and reported, never an error. Our own spelling is
 * split as text, its ids already checked by the pattern (a full JSON parse was ~10 % of a query's CPU).
 */
function parseChannels(key: string, raw: Record<string, string>): { channels: ChannelMembers; unreadable: UnreadableValue[] } {
  const channels: ChannelMembers = {};
  const unreadable: UnreadableValue[] = [];
  for (const [channelId, members] of Object.entries(raw)) {
    if (!CANONICAL_ID.test(channelId)) {
      unreadable.push({ key, field: channelId });
      continue;
    }
    if (OWN_MEMBER_LIST.test(members)) {
      channels[channelId] = members.slice(2, -2).split('","');
      continue;
    }
    let parsed: unknown;
    try {
      parsed = parseJsonKeepingNumbersAsText(members);
    } catch {
      parsed = undefined;
    }
    const ids = Array.isArray(parsed) ? parsed.map(String) : undefined;
    if (!ids || !ids.every((id) => CANONICAL_ID.test(id))) {
      unreadable.push({ key, field: channelId });
      continue;
    }
    if (ids.length > 0) channels[channelId] = ids;
  }
  return { channels, unreadable };
}
