import { Inject, Injectable, Logger } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis, { ChainableCommander, ReplyError } from 'ioredis';
import { parseJsonKeepingNumbersAsText } from '../common/lossless-json';
import { REDIS_CLIENT } from '../redis/redis.module';
import { AppConfig } from '../config/app-config';
import { guildChannelsKey, guildOnlineKey, redisKeys, scriptLayout } from './redis-keys';

/** One change to apply, already decided by a service's rules. Each is applied atomically by apply-events.lua. */
export type StateChange =
  | { kind: 'connect'; userId: string; sessionId: string; state: string; atMs: number; serverId: string | undefined; guildIds: readonly string[] }
  | { kind: 'disconnect'; sessionId: string; userId: string | undefined }
  | { kind: 'heartbeat'; sessionId: string; userId: string | undefined }
  | { kind: 'join'; userId: string; guildId: string; channelId: string; atMs: number; serverId: string | undefined }
  | { kind: 'leave'; userId: string; guildId: string; channelId: string; atMs: number };

/** What one change did: the state changed, the same was known already (redelivery), or it is older than what is known. */
export type StoredOutcome = 'applied' | 'duplicate' | 'stale';

/**
 * Per-event outcome as the ingest layer counts it: stored outcomes, `ignored` (a routine record
 * that carries nothing, with the reason) and `rejected` (Redis refused this one change: dead-lettered).
 */
export type ApplyOutcome = StoredOutcome | { ignored: string } | { rejected: string };

/** The result of one change: its outcome, and for a DISCONNECT the user it resolved and whether it ended their last live session. */
export interface ChangeResult {
  outcome: StoredOutcome | { rejected: string };
  userId?: string;
  endedLastSession?: boolean;
  /** Sessions ended to keep the user within MAX_SESSIONS_PER_USER (CONNECT). */
  sessionsEvicted?: number;
}

/** Redis could not be reached (or answered too late); the same work may be retried as a whole. */
export class StateStoreUnavailableError extends Error {
  override readonly name = 'StateStoreUnavailableError';
}

/** Voice channels of a guild: channelId -> userIds. */
export type ChannelMembers = Record<string, string[]>;

/** A GUILD:<id> field the service cannot read (another writer's bytes): skipped in answers, replaced by the next write. */
export interface UnreadableValue {
  key: string;
  field: string;
}

/**
 * Events per script call. One command per event costs ~10 µs of client and server overhead each;
 * one per run of events amortises it. Bounded so that one call keeps Redis busy for a few ms at
 * most and queries are not held up behind it.
 */
const EVENTS_PER_SCRIPT_CALL = 200;

/** Most fields or members one read command asks for, so that no single command blocks Redis for long. */
export const READ_CHUNK = 1000;

const SCRIPTS = {
  applyEvents: 'apply-events',
  resetServerSessions: 'reset-server-sessions',
  resetVoiceServer: 'reset-voice-server',
  expireSessions: 'expire-sessions',
  expireVoiceGrace: 'expire-voice-grace',
} as const;
type ScriptName = keyof typeof SCRIPTS;

function loadScript(file: string): string {
  const dir = join(__dirname, 'scripts');
  return `${readFileSync(join(dir, 'lib.lua'), 'utf8')}\n${readFileSync(join(dir, `${file}.lua`), 'utf8')}`;
}

/** The settings the scripts read (ARGV[2], decoded by lib.lua). */
function scriptSettings(config: AppConfig): string {
  const priority = config.STATE_PRIORITY;
  return JSON.stringify({
    ttl: config.ENDED_SESSION_TTL_SECONDS,
    lease: config.SESSION_TTL_SECONDS,
    grace: config.VOICE_GRACE_SECONDS,
    maxSessions: config.MAX_SESSIONS_PER_USER,
    rank: Object.fromEntries(priority.map((state, i) => [state, priority.length - i])),
    invisibleAs: config.INVISIBLE_SHOWN_AS,
    scope: config.VOICE_SCOPE,
  });
}

/**
 * The only code that talks to Redis about state. Writes go through the Lua scripts in ./scripts,
 * many events per atomic script call, several calls per pipelined round trip.
 */
@Injectable()
export class StateStore {
  private readonly log = new Logger('StateStore');
  private readonly settings: string;

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    config: AppConfig,
  ) {
    this.settings = scriptSettings(config);
    for (const [name, file] of Object.entries(SCRIPTS)) {
      if (!(`state_${name}` in redis)) redis.defineCommand(`state_${name}`, { numberOfKeys: 0, lua: loadScript(file) });
    }
    let cleared = false;
    const clearOnce = () => {
      if (cleared) return;
      cleared = true;
      this.clearInheritedExpiries().catch(() => (cleared = false)); // Redis went away: the next 'ready' tries again
    };
    redis.on('ready', clearOnce);
    if (redis.status === 'ready') clearOnce();
  }

  /** Resolves once the Redis connection is ready, or after `timeoutMs` (whichever comes first). */
  async whenConnected(timeoutMs: number): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const redis = this.redis;
      function done() {
        clearTimeout(timer);
        redis.off('ready', done);
        resolve();
      }
      redis.once('ready', done);
    });
  }

  /**
   * The state's marker (STATE_STORE:SINCE: absent when Redis lost the state or never had it) and
   * epoch (STATE_STORE:EPOCH: absent until the first rebuild). See src/state-rebuild.
   */
  async readMarker(): Promise<{ since: string | null; epoch: string | null }> {
    const [since, epoch] = await this.call(() => this.redis.mget(redisKeys.storeMarker, redisKeys.storeEpoch));
    return { since, epoch };
  }

  /** Marks the state as started now, unless it is marked already. */
  async markStarted(): Promise<void> {
    await this.call(() => this.redis.set(redisKeys.storeMarker, new Date().toISOString(), 'NX'));
  }

  /**
   * Claims a new epoch after a loss: set-if-absent, so when several instances find the loss at once
   * exactly one candidate wins; returns the winning epoch. Marks the state started too.
   */
  async claimEpoch(candidate: string): Promise<string> {
    const replies = await this.exec(
      this.redis.pipeline().set(redisKeys.storeEpoch, candidate, 'NX').set(redisKeys.storeMarker, new Date().toISOString(), 'NX').get(redisKeys.storeEpoch),
    );
    const failed = replies.find(([error]) => error);
    if (failed) throw new StateStoreUnavailableError(failed[0]!.message);
    return replies[2][1] as string;
  }

  /** The rebuild's targets for an epoch (set-if-absent by the first instance to switch): what "caught up" means for everyone. */
  async rebuildTargets(epoch: string, proposed: string): Promise<string> {
    const key = `${redisKeys.storeRebuildPrefix}${epoch}`;
    const replies = await this.exec(this.redis.pipeline().set(key, proposed, 'NX').get(key));
    const failed = replies.find(([error]) => error);
    if (failed) throw new StateStoreUnavailableError(failed[0]!.message);
    return replies[1][1] as string;
  }

  /**
   * The original service set a whole-key expiry on USER:STATE and GUILD:* after every write; taken
   * over as they are, everyone would read offline once it ran out. Cleared here at start-up (SCAN,
   * a batch at a time) and by the scripts whenever they write those keys.
   */
  private async clearInheritedExpiries(): Promise<void> {
    let cleared = await this.redis.persist(redisKeys.userStates);
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${redisKeys.guildChannelsPrefix}*`, 'COUNT', READ_CHUNK);
      cursor = next;
      if (keys.length > 0) {
        const pipeline = this.redis.pipeline();
        for (const key of keys) pipeline.persist(key);
        for (const [, result] of (await pipeline.exec()) ?? []) cleared += Number(result ?? 0);
      }
    } while (cursor !== '0');
    if (cleared > 0) this.log.warn(`Cleared an inherited expiry on ${cleared} keys (USER:STATE, GUILD:*): the original service expired them whole`);
  }

  /** Applies the changes in order, in one round trip. Per-change results; throws only when Redis is unreachable. */
  async apply(changes: readonly StateChange[]): Promise<ChangeResult[]> {
    if (changes.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (let start = 0; start < changes.length; start += EVENTS_PER_SCRIPT_CALL) {
      const run = changes.slice(start, start + EVENTS_PER_SCRIPT_CALL).map(encodeChange);
      this.queueScript(pipeline, 'applyEvents', [JSON.stringify(run)]);
    }
    const replies = await this.exec(pipeline);
    return replies.flatMap(([error, result]) => {
      if (error) {
        if (error instanceof ReplyError) throw error; // the applier tells a passing LOADING / READONLY from a script error
        throw new StateStoreUnavailableError(error.message);
      }
      return (result as unknown[]).map(decodeResult);
    });
  }

  /** One bounded step of a chat server's RESET: ends up to `step` of its sessions that started before resetAtMs. */
  async endServerSessionsStep(serverId: string, resetAtMs: number, cursor: string, step: number): Promise<{ cursor: string; ended: number }> {
    const [next, ended] = (await this.script('resetServerSessions', [serverId, resetAtMs, cursor, step])) as [string, number];
    return { cursor: next, ended };
  }

  /** One bounded step of a signaling server's RESET: ends up to `step` of the seats its JOINs took before resetAtMs. */
  async endServerSeatsStep(serverId: string, resetAtMs: number, cursor: string, step: number): Promise<{ cursor: string; ended: number }> {
    const [next, ended] = (await this.script('resetVoiceServer', [serverId, resetAtMs, cursor, step])) as [string, number];
    return { cursor: next, ended };
  }

  /** One bounded step of lease expiry; returns how many sessions it ended. */
  async expireSessionsStep(step: number): Promise<number> {
    return (await this.script('expireSessions', [step])) as number;
  }

  /** One bounded step of the voice grace period; returns how many users' grace ran out and how many seats ended. */
  async expireVoiceGraceStep(step: number): Promise<{ users: number; seats: number }> {
    const [users, seats] = (await this.script('expireVoiceGrace', [step])) as [number, number];
    return { users, seats };
  }

  /** States of the given users (null for users never seen) and the guild's voice channels, in one round trip. */
  async readGuild(guildId: string, userIds: readonly string[]): Promise<{ states: (string | null)[]; channels: ChannelMembers; unreadable: UnreadableValue[] }> {
    const pipeline = this.redis.pipeline();
    queueStateReads(pipeline, userIds);
    pipeline.hgetall(guildChannelsKey(guildId));
    const replies = await this.exec(pipeline);
    const failed = replies.find(([error]) => error);
    if (failed) throw new StateStoreUnavailableError(failed[0]!.message);
    const states = replies.slice(0, -1).flatMap(([, chunk]) => chunk as (string | null)[]);
    return { states, ...parseChannels(guildChannelsKey(guildId), replies[replies.length - 1][1] as Record<string, string>) };
  }

  /** States of the given users (null for users never seen), in one round trip of commands of at most READ_CHUNK fields. */
  async readStates(userIds: readonly string[]): Promise<(string | null)[]> {
    if (userIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    queueStateReads(pipeline, userIds);
    const replies = await this.exec(pipeline);
    const failed = replies.find(([error]) => error);
    if (failed) throw new StateStoreUnavailableError(failed[0]!.message);
    return replies.flatMap(([, chunk]) => chunk as (string | null)[]);
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
  ): Promise<{ userIds: string[]; states: (string | null)[]; channels: ChannelMembers; unreadable: UnreadableValue[]; nextCursor?: string }> {
    const key = guildChannelsKey(guildId);
    const users = new Set<string>();
    let position = cursor;
    do {
      const [next, members] = await this.call(() => this.redis.sscan(guildOnlineKey(guildId), position, 'COUNT', Math.min(limit, READ_CHUNK)));
      position = next;
      for (const m of members) users.add(m);
    } while (position !== '0' && users.size < limit);
    const { channels, unreadable } = parseChannels(key, await this.call(() => this.redis.hgetall(key)));
    if (cursor === '0') for (const members of Object.values(channels)) for (const m of members) users.add(m);
    const userIds = [...users];
    return { userIds, states: await this.readStates(userIds), channels, unreadable, ...(position !== '0' ? { nextCursor: position } : {}) };
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
    (pipeline as unknown as Record<string, (...a: (string | number)[]) => void>)[`state_${name}`](scriptLayout, this.settings, ...args);
  }

  private script(name: ScriptName, args: readonly (string | number)[]): Promise<unknown> {
    const run = (this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[`state_${name}`];
    return this.call(() => run.call(this.redis, scriptLayout, this.settings, ...args));
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

function queueStateReads(pipeline: ChainableCommander, userIds: readonly string[]): void {
  for (let start = 0; start < userIds.length; start += READ_CHUNK) {
    pipeline.hmget(redisKeys.userStates, ...userIds.slice(start, start + READ_CHUNK));
  }
}

/** The compact form apply-events.lua reads (see its header). */
function encodeChange(change: StateChange): unknown[] {
  switch (change.kind) {
    case 'connect':
      return ['C', change.userId, change.sessionId, change.state, String(change.atMs), change.serverId ?? '', change.guildIds];
    case 'disconnect':
      return ['D', change.sessionId, change.userId ?? ''];
    case 'heartbeat':
      return ['H', change.sessionId, change.userId ?? ''];
    case 'join':
      return ['J', change.userId, change.guildId, change.channelId, String(change.atMs), change.serverId ?? ''];
    case 'leave':
      return ['L', change.userId, change.guildId, change.channelId, String(change.atMs)];
  }
}

const STORED_OUTCOMES: Record<number, StoredOutcome> = { 0: 'duplicate', 1: 'applied', 2: 'stale' };

/** One entry of apply-events.lua's reply (see its header). */
function decodeResult(reply: unknown): ChangeResult {
  if (typeof reply === 'string') return { outcome: { rejected: `Redis refused the change: ${reply}` } };
  const [code, ...extra] = Array.isArray(reply) ? (reply as unknown[]) : [reply];
  const outcome = STORED_OUTCOMES[Number(code)];
  if (!outcome) return { outcome: { rejected: `apply-events.lua answered ${JSON.stringify(reply)}` } };
  if (extra.length === 2) return { outcome, userId: (extra[0] as string) || undefined, endedLastSession: extra[1] === 1 };
  if (extra.length === 1) return { outcome, sessionsEvicted: Number(extra[0]) };
  return { outcome };
}

const CANONICAL_ID = /^[1-9][0-9]{0,18}$/;

/**
 * GUILD:<id> values are JSON arrays of ids; read losslessly and tolerantly: another writer's
 * spelling (spaces, numbers) is parsed, a value that is not a JSON array of ids (the original
 * service's JDK-serialized bytes) is skipped and reported, never an error.
 */
function parseChannels(key: string, raw: Record<string, string>): { channels: ChannelMembers; unreadable: UnreadableValue[] } {
  const channels: ChannelMembers = {};
  const unreadable: UnreadableValue[] = [];
  for (const [channelId, members] of Object.entries(raw)) {
    let parsed: unknown;
    try {
      parsed = CANONICAL_ID.test(channelId) ? parseJsonKeepingNumbersAsText(members) : undefined;
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
