/**
 * The reference model of the state server's rules, in plain TypeScript: no Redis, no Kafka, no
 * NestJS. It applies events one at a time, in the order they are delivered, exactly as the service
 * does (the Lua scripts are atomic, so any concurrent apply is equivalent to some delivery order),
 * and exposes the same observable state as Redis (USER:STATE, GUILD:<g>, GUILD_ONLINE:<g>) and the
 * same answers as GuildStatesService.
 *
 * Written from the rules, not from the scripts, so that a property test comparing the two catches a
 * script that drifts from the rules. Where the service's behaviour is arguably not what a peer
 * wants, the model still follows the service and says so (see RESET and JOIN below).
 *
 * Every event is applied with its record timestamp (`atMs`, the producer's clock, as Kafka gives
 * it): times decide what is stale across topics, so that the outcome does not depend on how the
 * two topics interleave. A JOIN from before the user last went offline changes nothing (it was
 * redelivered, or overtaken by the DISCONNECT that ended their last session); a LEAVE from before
 * the user took that seat changes nothing; the end of a user's presence at time T takes them out
 * of the seats taken before T only; a CONNECT of a chat server from before that server's RESET is
 * ended already (and ends the user's presence at the reset if it was their only session).
 *
 * Ended sessions are remembered forever here; the service forgets them after
 * ENDED_SESSION_TTL_SECONDS (a day by default), after which a replayed CONNECT would revive them.
 */

/** A session event as the chat server sends it (ids as canonical decimal strings). */
export type SessionEventModel =
  | { type: 'CONNECT'; sessionId: string; userId: string; state?: string; guildIds?: string[]; serverId?: string; timestamp: number }
  | { type: 'DISCONNECT'; sessionId: string; userId?: string; state?: string; timestamp?: number }
  | { type: 'HEARTBEAT'; sessionId: string }
  | { type: 'RESET'; serverId: string; timestamp: number };

/** A channel event as the signaling server sends it. */
export type ChannelEventModel = { type: 'JOIN' | 'LEAVE'; userId: string; guildId: string; channelId: string };

/** Not a Kafka event: the clock ran past the lease of this session (only with SESSION_TTL_SECONDS > 0); atMs is that moment. */
export type LeaseExpiry = { type: 'LEASE_EXPIRED'; sessionId: string };

export type PresenceEvent = SessionEventModel | ChannelEventModel | LeaseExpiry;

export interface ModelOptions {
  /** VOICE_ONE_CHANNEL_PER_USER (default true). */
  oneChannel?: boolean;
  /** SESSION_TTL_SECONDS > 0: sessions carry a lease that can run out. */
  leases?: boolean;
}

/** What Redis holds that a peer can observe. Channel arrays are in join order. */
export interface ObservableState {
  userStates: Record<string, string>;
  guildChannels: Record<string, Record<string, string[]>>;
  guildOnline: Record<string, string[]>;
}

/** GuildStatesService's answers. */
export interface GuildStatesAnswer {
  guildId: string;
  connectionStates: Record<string, string>;
  channelStates: Record<string, string[]>;
}
export interface UserInfoAnswer {
  connectionStates: Record<string, string>;
  channelStates?: Record<string, string[]>;
}

interface SessionRecord {
  live: boolean;
  userId?: string;
  serverId?: string;
  since: number;
  leased: boolean;
}

const seatOf = (guildId: string, channelId: string) => `${guildId}:${channelId}`;

export class PresenceModel {
  private readonly oneChannel: boolean;
  private readonly leases: boolean;
  private readonly userStates = new Map<string, string>();
  /** Every session ever seen (live, or ended = a tombstone). */
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly userSessions = new Map<string, Set<string>>();
  private readonly userGuilds = new Map<string, Set<string>>();
  /** userId -> seat "<guildId>:<channelId>" -> when it was taken (the JOIN's record time). */
  private readonly userSeats = new Map<string, Map<string, number>>();
  /** userId -> when their last session last ended (ms): older JOINs are stale. */
  private readonly offlineAt = new Map<string, number>();
  /** serverId -> time of its latest RESET (ms): older CONNECTs of it are stale. */
  private readonly serverResets = new Map<string, number>();
  private latestMs = 0;
  /** guildId -> channelId -> members in join order. */
  private readonly channels = new Map<string, Map<string, string[]>>();

  constructor(options: ModelOptions = {}) {
    this.oneChannel = options.oneChannel ?? true;
    this.leases = options.leases ?? false;
  }

  /**
   * Applies one delivered event, whose record timestamp is atMs; returns whether the state changed
   * ('applied') or not. CONNECT and RESET take their time from the event's timestamp, DISCONNECT
   * too when it has one. Without atMs: the event's timestamp, or just after the latest time seen
   * (an event sent after all before it).
   */
  apply(event: PresenceEvent, atMs: number = ownTimestamp(event) ?? this.latestMs + 1): 'applied' | 'unchanged' {
    this.latestMs = Math.max(this.latestMs, atMs);
    switch (event.type) {
      case 'CONNECT':
        return this.connect(event);
      case 'DISCONNECT':
        return this.endSession(event.sessionId, event.state ?? 'offline', event.userId, event.timestamp ?? atMs);
      case 'HEARTBEAT':
        // Renews a lease: changes when it runs out, not what anyone sees now.
        return this.sessions.get(event.sessionId)?.live && this.leases ? 'applied' : 'unchanged';
      case 'RESET':
        return this.reset(event.serverId, event.timestamp);
      case 'LEASE_EXPIRED': {
        const record = this.sessions.get(event.sessionId);
        return record?.live && record.leased ? this.endSession(event.sessionId, 'offline', undefined, atMs) : 'unchanged';
      }
      case 'JOIN':
        if (atMs < (this.offlineAt.get(event.userId) ?? 0)) return 'unchanged';
        return this.join(event.userId, event.guildId, event.channelId, atMs);
      case 'LEAVE':
        if (atMs < (this.userSeats.get(event.userId)?.get(seatOf(event.guildId, event.channelId)) ?? -Infinity)) return 'unchanged';
        return this.leave(event.userId, event.guildId, event.channelId);
    }
  }

  /** Applies events in order, each sent after the ones before it (see apply()). */
  applyAll(events: Iterable<PresenceEvent>): this {
    for (const event of events) this.apply(event);
    return this;
  }

  /** Sessions of the user that are live now. */
  liveSessions(userId: string): string[] {
    return [...(this.userSessions.get(userId) ?? [])];
  }

  // --- sessions -------------------------------------------------------------------------------

  /**
   * A session id is used once. A CONNECT of a session already seen (live: a redelivery; ended: its
   * DISCONNECT overtook it or it is replayed later) changes nothing, so an old session never
   * brings a user back online.
   */
  private connect(e: Extract<SessionEventModel, { type: 'CONNECT' }>): 'applied' | 'unchanged' {
    if (this.sessions.has(e.sessionId)) return 'unchanged';
    const resetAt = e.serverId !== undefined ? this.serverResets.get(e.serverId) ?? 0 : 0;
    if (e.timestamp < resetAt) {
      // Its server's RESET ended it already: as if it had been applied before the RESET.
      this.sessions.set(e.sessionId, { live: false, userId: e.userId, since: e.timestamp, leased: false });
      if (!this.userSessions.get(e.userId)?.size) this.endPresence(e.userId, 'offline', resetAt);
      return 'unchanged';
    }
    this.sessions.set(e.sessionId, { live: true, userId: e.userId, serverId: e.serverId, since: e.timestamp, leased: this.leases });
    setOf(this.userSessions, e.userId).add(e.sessionId);
    this.userStates.set(e.userId, e.state ?? 'online');
    for (const guildId of e.guildIds ?? []) setOf(this.userGuilds, e.userId).add(guildId);
    return 'applied';
  }

  /**
   * Ends a session, leaving a tombstone. The user is found from the session, or else from the
   * event (DISCONNECT before CONNECT). Only the user's last live session ending takes them offline
   * (with the state the ending event carries), out of voice and out of their guilds' online sets.
   */
  private endSession(sessionId: string, state: string, userIdOfEvent: string | undefined, endedAt: number): 'applied' | 'unchanged' {
    const record = this.sessions.get(sessionId);
    if (record && !record.live) return 'unchanged';
    const userId = record?.userId ?? userIdOfEvent;
    this.sessions.set(sessionId, { live: false, userId, serverId: undefined, since: record?.since ?? 0, leased: false });
    if (userId === undefined) return 'applied';
    const live = this.userSessions.get(userId);
    live?.delete(sessionId);
    if (!live || live.size === 0) this.endPresence(userId, state, endedAt);
    return 'applied';
  }

  private endPresence(userId: string, state: string, endedAt: number): void {
    this.userSessions.delete(userId);
    this.userStates.set(userId, state);
    this.offlineAt.set(userId, Math.max(endedAt, this.offlineAt.get(userId) ?? 0));
    // A seat taken after endedAt stays: its JOIN was applied before this older event.
    for (const [seat, since] of [...(this.userSeats.get(userId) ?? [])]) {
      if (since <= endedAt) this.leaveSeat(userId, seat);
    }
    this.userGuilds.delete(userId);
  }

  /**
   * A chat-server instance restarted: every session it owns that started before the reset ends,
   * as a DISCONNECT with state "offline" would at resetAt. Sessions started at or after the reset
   * are its new ones and stay. The reset time is remembered: a CONNECT from before it delivered
   * after it (another partition) is stale.
   */
  private reset(serverId: string, resetAt: number): 'applied' | 'unchanged' {
    this.serverResets.set(serverId, Math.max(resetAt, this.serverResets.get(serverId) ?? 0));
    let ended = 0;
    for (const [sessionId, record] of [...this.sessions]) {
      if (record.live && record.serverId === serverId && record.since < resetAt) {
        this.endSession(sessionId, 'offline', undefined, resetAt);
        ended++;
      }
    }
    return ended > 0 ? 'applied' : 'unchanged';
  }

  // --- voice ----------------------------------------------------------------------------------

  /**
   * One channel at a time (by default): a JOIN elsewhere moves the user, across guilds too. A JOIN
   * does not need a live session: the signaling server's JOIN may be consumed before the chat
   * server's CONNECT (another topic). (A JOIN older than the user's last offline time was refused
   * in apply().)
   */
  private join(userId: string, guildId: string, channelId: string, atMs: number): 'applied' | 'unchanged' {
    const seat = seatOf(guildId, channelId);
    let changed = false;
    if (this.oneChannel) {
      for (const other of [...(this.userSeats.get(userId)?.keys() ?? [])]) {
        if (other === seat) continue;
        this.leaveSeat(userId, other);
        changed = true;
      }
    }
    const members = mapOf(this.channels, guildId).get(channelId) ?? [];
    if (!members.includes(userId)) {
      mapOf(this.channels, guildId).set(channelId, [...members, userId]);
      changed = true;
    }
    const seats = mapOf(this.userSeats, userId);
    seats.set(seat, Math.max(atMs, seats.get(seat) ?? -Infinity));
    return changed ? 'applied' : 'unchanged';
  }

  /** A LEAVE of a channel the user is not in changes nothing. */
  private leave(userId: string, guildId: string, channelId: string): 'applied' | 'unchanged' {
    return this.leaveSeat(userId, seatOf(guildId, channelId)) ? 'applied' : 'unchanged';
  }

  private leaveSeat(userId: string, seat: string): boolean {
    const seats = this.userSeats.get(userId);
    seats?.delete(seat);
    if (seats?.size === 0) this.userSeats.delete(userId);
    const [guildId, channelId] = seat.split(':');
    return this.removeFromChannel(guildId, channelId, userId);
  }

  /** An emptied channel disappears from the guild (the original service's contract). */
  private removeFromChannel(guildId: string, channelId: string, userId: string): boolean {
    const guild = this.channels.get(guildId);
    const members = guild?.get(channelId);
    if (!guild || !members?.includes(userId)) return false;
    const kept = members.filter((m) => m !== userId);
    if (kept.length > 0) guild.set(channelId, kept);
    else guild.delete(channelId);
    if (guild.size === 0) this.channels.delete(guildId);
    return true;
  }

  // --- what a peer can observe ----------------------------------------------------------------

  /** USER:STATE, GUILD:<g> (join order) and GUILD_ONLINE:<g> (sorted), with empty entries left out. */
  observable(): ObservableState {
    const guildOnline: Record<string, string[]> = {};
    for (const [userId, guilds] of this.userGuilds) {
      for (const guildId of guilds) (guildOnline[guildId] ??= []).push(userId);
    }
    for (const members of Object.values(guildOnline)) members.sort(byId);
    return {
      userStates: Object.fromEntries(this.userStates),
      guildChannels: Object.fromEntries([...this.channels].map(([g, chans]) => [g, this.channelStates(g)])),
      guildOnline,
    };
  }

  /** GET /guilds/:g/states?userIds=… (named users, "offline" when never seen) or without userIds (online members + voice occupants). */
  guildStates(guildId: string, userIds?: readonly string[]): GuildStatesAnswer {
    const channelStates = this.channelStates(guildId);
    const ids = userIds ? [...new Set(userIds)] : this.guildSnapshotUsers(guildId);
    const connectionStates = Object.fromEntries(ids.map((id) => [id, this.userStates.get(id) ?? 'offline']));
    return { guildId, connectionStates, channelStates };
  }

  /** POST /api/state/community/user/info: users never seen are left out. */
  communityUserInfo(guildId: string, userIds: readonly string[]): Required<UserInfoAnswer> {
    return { connectionStates: this.knownStates(userIds), channelStates: this.channelStates(guildId) };
  }

  /** POST /api/state/direct/user/info: users never seen are left out. */
  directUserInfo(userIds: readonly string[]): UserInfoAnswer {
    return { connectionStates: this.knownStates(userIds) };
  }

  private channelStates(guildId: string): Record<string, string[]> {
    return Object.fromEntries([...(this.channels.get(guildId) ?? [])].map(([c, members]) => [c, [...members]]));
  }

  private guildSnapshotUsers(guildId: string): string[] {
    const users = new Set<string>();
    for (const [userId, guilds] of this.userGuilds) if (guilds.has(guildId)) users.add(userId);
    for (const members of this.channels.get(guildId)?.values() ?? []) members.forEach((m) => users.add(m));
    return [...users];
  }

  private knownStates(userIds: readonly string[]): Record<string, string> {
    const result: Record<string, string> = {};
    for (const id of new Set(userIds)) {
      const state = this.userStates.get(id);
      if (state !== undefined) result[id] = state;
    }
    return result;
  }
}

function ownTimestamp(event: PresenceEvent): number | undefined {
  return 'timestamp' in event ? event.timestamp : undefined;
}

/** Orders decimal ids numerically (shorter first), for comparing sets read from Redis. */
export function byId(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

function mapOf<K, K2, V>(map: Map<K, Map<K2, V>>, key: K): Map<K2, V> {
  let inner = map.get(key);
  if (!inner) map.set(key, (inner = new Map()));
  return inner;
}
