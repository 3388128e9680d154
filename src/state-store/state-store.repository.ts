import { Inject, Injectable, Logger } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis, { ChainableCommander, ReplyError } from 'ioredis';
import { parseJsonKeepingNumbersAsText } from '../ingest/lossless-json';
import { REDIS_CLIENT } from '../redis/redis.module';
import { guildChannelsKey, redisKeys, scriptLayout } from './redis-keys';

/** One change to apply, already decided by a service's rules. Each is applied atomically by apply-events.lua. */
export type StateChange =
  | {
      kind: 'connect';
      sessionId: string;
      userId: string;
      state: string;
      serverId: string | undefined;
      startedAtMs: number;
      leaseSeconds: number;
      guildIds: readonly string[];
      endedTtlSeconds: number;
    }
  | { kind: 'disconnect'; sessionId: string; userId: string | undefined; state: string; endedTtlSeconds: number; endedAtMs: number }
  | { kind: 'heartbeat'; sessionId: string; leaseSeconds: number }
  | { kind: 'channel'; type: 'JOIN' | 'LEAVE'; userId: string; guildId: string; channelId: string; oneChannel: boolean; atMs: number };

/** applied: the state changed; unchanged: a redelivery or no-op; rejected: Redis refused this one change. */
export type ApplyOutcome = 'applied' | 'unchanged' | { rejected: string };

/** Redis could not be reached (or answered too late); the same work may be retried as a whole. */
export class StateStoreUnavailableError extends Error {
  override readonly name = 'StateStoreUnavailableError';
}

/** Voice channels of a guild: channelId -> userIds. */
export type ChannelMembers = Record<string, string[]>;

/**
 * Events per script call. One command per event costs ~10 µs of client and server overhead each;
 * one per run of events amortises it. Bounded so that one call keeps Redis busy for a few ms at
 * most and queries are not held up behind it.
 */
const EVENTS_PER_SCRIPT_CALL = 200;

const SCRIPTS = {
  applyEvents: 'apply-events',
  resetServerSessions: 'reset-server-sessions',
  expireSessions: 'expire-sessions',
  guildSnapshot: 'guild-snapshot',
} as const;
type ScriptName = keyof typeof SCRIPTS;

function loadScript(file: string): string {
  const dir = join(__dirname, 'scripts');
  return `${readFileSync(join(dir, 'lib.lua'), 'utf8')}\n${readFileSync(join(dir, `${file}.lua`), 'utf8')}`;
}

/**
 * The only code that talks to Redis about state. Writes go through the Lua scripts in ./scripts,
 * one atomic script per event, many events per pipelined round trip.
 */
@Injectable()
export class StateStore {
  private readonly log = new Logger('StateStore');
  private connectedBefore = false;
  /** When Redis was found to have lost the state (it came back without the marker), or undefined. */
  private emptiedAt?: Date;

  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {
    for (const [name, file] of Object.entries(SCRIPTS)) {
      if (!(`state_${name}` in redis)) redis.defineCommand(`state_${name}`, { numberOfKeys: 0, lua: loadScript(file) });
    }
    redis.on('ready', () => void this.checkMarker());
    if (redis.status === 'ready') void this.checkMarker();
  }

  /**
   * Set when Redis, after a reconnection, no longer holds the marker this process found or wrote
   * when it first connected: it restarted without persistence (or was flushed), so the state is
   * gone. The service keeps applying new events, but reports itself not ready until the state is
   * rebuilt by a replay and the service restarted (docs/reliability.md).
   */
  get stateLostAt(): Date | undefined {
    return this.emptiedAt;
  }

  private async checkMarker(): Promise<void> {
    try {
      if (!this.connectedBefore) {
        await this.redis.set(redisKeys.storeMarker, new Date().toISOString(), 'NX');
        this.connectedBefore = true;
      } else if (!this.emptiedAt && (await this.redis.exists(redisKeys.storeMarker)) === 0) {
        this.emptiedAt = new Date();
        this.log.error(`Redis came back without ${redisKeys.storeMarker}: its state was lost. Rebuild it by replaying the topics from the earliest offset, then restart the service (see docs/reliability.md).`);
      }
    } catch {
      // Redis went away again: the next 'ready' checks again.
    }
  }

  /** Applies the changes in order, in one round trip. Per-change outcomes; throws only when Redis is unreachable. */
  async apply(changes: readonly StateChange[]): Promise<ApplyOutcome[]> {
    if (changes.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (let start = 0; start < changes.length; start += EVENTS_PER_SCRIPT_CALL) {
      const run = changes.slice(start, start + EVENTS_PER_SCRIPT_CALL).map(encodeChange);
      this.queueScript(pipeline, 'applyEvents', [JSON.stringify(run)]);
    }
    const replies = await this.exec(pipeline);
    return replies.flatMap(([error, result]) => {
      if (error) {
        if (error instanceof ReplyError) throw new Error(`apply-events.lua failed: ${error.message}`);
        throw new StateStoreUnavailableError(error.message);
      }
      return (result as (number | string)[]).map((outcome): ApplyOutcome => {
        if (outcome === 1) return 'applied';
        if (outcome === 0) return 'unchanged';
        return { rejected: `Redis refused the change: ${outcome}` };
      });
    });
  }

  /** One bounded step of RESET: ends up to `step` sessions of the server that started before resetAtMs. */
  async endServerSessionsStep(
    serverId: string,
    resetAtMs: number,
    state: string,
    endedTtlSeconds: number,
    cursor: string,
    step: number,
  ): Promise<{ cursor: string; ended: number }> {
    const [next, ended] = (await this.script('resetServerSessions', [
      serverId, resetAtMs, state, endedTtlSeconds, cursor, step,
    ])) as [string, number];
    return { cursor: next, ended };
  }

  /** One bounded step of lease expiry; returns how many sessions it ended. */
  async expireSessionsStep(state: string, endedTtlSeconds: number, step: number): Promise<number> {
    return (await this.script('expireSessions', [state, endedTtlSeconds, step])) as number;
  }

  /** States of the given users (undefined for users never seen) and the guild's voice channels, in one round trip. */
  async readGuild(guildId: string, userIds: readonly string[]): Promise<{ states: (string | null)[]; channels: ChannelMembers }> {
    const pipeline = this.redis.pipeline();
    if (userIds.length > 0) pipeline.hmget(redisKeys.userStates, ...userIds);
    pipeline.hgetall(guildChannelsKey(guildId));
    const replies = await this.exec(pipeline);
    const failed = replies.find(([error]) => error);
    if (failed) throw new StateStoreUnavailableError(failed[0]!.message);
    const states = userIds.length > 0 ? (replies[0][1] as (string | null)[]) : [];
    return { states, channels: parseChannels(replies[replies.length - 1][1] as Record<string, string>) };
  }

  /** States of the given users (null for users never seen), in one round trip. */
  async readStates(userIds: readonly string[]): Promise<(string | null)[]> {
    if (userIds.length === 0) return [];
    return this.call(() => this.redis.hmget(redisKeys.userStates, ...userIds));
  }

  /** The guild's channels and every user online in it or in its channels, with their states: one script. */
  async readGuildSnapshot(guildId: string): Promise<{ userIds: string[]; states: (string | null)[]; channels: ChannelMembers }> {
    const [flatChannels, userIds, states] = (await this.script('guildSnapshot', [guildId])) as [string[], string[], (string | null)[]];
    const channels: Record<string, string> = {};
    for (let i = 0; i < flatChannels.length; i += 2) channels[flatChannels[i]] = flatChannels[i + 1];
    return { userIds, states, channels: parseChannels(channels) };
  }

  /**
   * The presence totals for gauges, in O(1): users ever seen (HLEN USER:STATE) and the counters
   * the scripts keep exact in STATE_COUNTERS (0 before the first event that moves them).
   */
  async readCounters(): Promise<{ knownUsers: number; onlineUsers: number; voiceSeats: number }> {
    const [knownUsers, [online, seats]] = await this.call(() =>
      Promise.all([this.redis.hlen(redisKeys.userStates), this.redis.hmget(redisKeys.counters, 'online_users', 'voice_seats')]),
    );
    return { knownUsers, onlineUsers: Number(online ?? 0), voiceSeats: Number(seats ?? 0) };
  }

  async ping(): Promise<void> {
    await this.call(() => this.redis.ping());
  }

  private queueScript(pipeline: ChainableCommander, name: ScriptName, args: readonly (string | number)[]): void {
    (pipeline as unknown as Record<string, (...a: (string | number)[]) => void>)[`state_${name}`](scriptLayout, ...args);
  }

  private script(name: ScriptName, args: readonly (string | number)[]): Promise<unknown> {
    const run = (this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[`state_${name}`];
    return this.call(() => run.call(this.redis, scriptLayout, ...args));
  }

  private async exec(pipeline: ChainableCommander): Promise<[Error | null, unknown][]> {
    const replies = await this.call(() => pipeline.exec());
    if (!replies) throw new StateStoreUnavailableError('Redis pipeline was discarded');
    return replies;
  }

  private async call<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      if (error instanceof ReplyError) throw error;
      throw new StateStoreUnavailableError((error as Error).message);
    }
  }
}

/** The compact form apply-events.lua reads (see its header). */
function encodeChange(change: StateChange): unknown[] {
  switch (change.kind) {
    case 'connect':
      return ['C', change.sessionId, change.userId, change.state, change.serverId ?? '', String(change.startedAtMs), change.leaseSeconds, change.guildIds, change.endedTtlSeconds];
    case 'disconnect':
      return ['D', change.sessionId, change.userId ?? '', change.state, change.endedTtlSeconds, change.endedAtMs];
    case 'heartbeat':
      return ['H', change.sessionId, change.leaseSeconds];
    case 'channel':
      return [change.type === 'JOIN' ? 'J' : 'L', change.userId, change.guildId, change.channelId, change.oneChannel ? 1 : 0, change.atMs];
  }
}

/** GUILD:<id> values are JSON arrays; ids are read losslessly (a tool may have written them as numbers). */
function parseChannels(raw: Record<string, string>): ChannelMembers {
  const channels: ChannelMembers = {};
  for (const [channelId, members] of Object.entries(raw)) {
    const parsed = parseJsonKeepingNumbersAsText(members);
    if (Array.isArray(parsed) && parsed.length > 0) channels[channelId] = parsed.map(String);
  }
  return channels;
}
