/**
 * The reference model of the state server's rules (docs/rules.md), in plain TypeScript: no Redis,
 * no Kafka, no NestJS. Written from the rules, never from the Lua scripts, so that a property test
 * comparing the two catches a script that drifts from the rules.
 *
 * It applies events one at a time in the order they are given, each with its record timestamp
 * (`atMs`, the producing host's clock, as Kafka gives it). The rules are built so that the final
 * state does not depend on that order: every piece of state is a register that only moves one
 * way (a tombstone, the newest CONNECT of a session, the newest JOIN of a scope, the newest LEAVE
 * of a channel, the latest RESET of a server), and what a peer can observe is derived from the
 * registers. test/property checks that claim on the model itself, then the service against it.
 *
 * Two pseudo-events stand for the state server's own clock (they are not records and are not
 * reordered): LEASE_EXPIRED (a session's lease ran out) and GRACE_EXPIRED (a user's voice grace
 * period ran out). With `voiceGraceMs`, apply() also takes the state server's clock at each event,
 * and a GRACE_EXPIRED that names its time ends seats only if the grace really ran out by then.
 *
 * Where docs/rules.md is silent the model decides, and says so in a comment marked "(silent)".
 * Memory is never forgotten here: the service forgets tombstones, pending markers and voice
 * registers after ENDED_SESSION_TTL_SECONDS, which the model does not need to.
 */

export type VoiceScope = 'guild' | 'user' | 'none';

/** CONNECT: `timestamp` is the chat server's clock when present, else the record's. */
export type ConnectEvent = {
  type: 'CONNECT';
  sessionId: string;
  userId: string;
  state?: string;
  guildIds?: string[];
  serverId?: string;
  timestamp?: number;
};
/** DISCONNECT: from Kafka or from the chat server's HTTP call, which names no user. `state` is not used: the shown state is derived. */
export type DisconnectEvent = { type: 'DISCONNECT'; sessionId: string; userId?: string; state?: string };
/** HEARTBEAT renews a session's lease: nothing a peer sees changes. */
export type HeartbeatEvent = { type: 'HEARTBEAT'; sessionId: string; userId?: string };
/** RESET on `sessionEvent`: that chat server restarted. */
export type SessionResetEvent = { type: 'RESET'; serverId: string; timestamp?: number };
export type SessionEventModel = ConnectEvent | DisconnectEvent | HeartbeatEvent | SessionResetEvent;

/** JOIN / LEAVE on `channelEvent`; `serverId` is the signaling instance, sent by those that send RESETs. */
export type ChannelEventModel = { type: 'JOIN' | 'LEAVE'; userId: string; guildId: string; channelId: string; serverId?: string };
/** The signaling server's LEAVE of a socket that never joined: `Number(undefined)` ids. */
export type NullLeaveEvent = { type: 'LEAVE'; userId: null; guildId: null; channelId: null };
/** RESET on `channelEvent` (type "RESET" on the wire): that signaling instance restarted. */
export type VoiceResetEvent = { type: 'VOICE_RESET'; serverId: string; timestamp?: number };
export type VoiceEventModel = ChannelEventModel | NullLeaveEvent | VoiceResetEvent;

/** The state server's clock ran past the lease of (userId, sessionId) (only with leases). */
export type LeaseExpired = { type: 'LEASE_EXPIRED'; userId: string; sessionId: string };
/**
 * The grace sweep of the user at `at` (the state server's clock). Without `at` (or without the
 * model's voiceGraceMs): the grace period has run out since the user's last sign of chat life.
 */
export type GraceExpired = { type: 'GRACE_EXPIRED'; userId: string; at?: number };
export type ClockEvent = LeaseExpired | GraceExpired;

/**
 * What the switch-over adopts from the original service's Redis (not records): a session key
 * (sessionId -> userId, with the user's state there) and a seat of its GUILD:<g> view.
 */
export type AdoptedSession = { type: 'ADOPT_SESSION'; userId: string; sessionId: string; state: string };
export type AdoptedSeat = { type: 'ADOPT_SEAT'; userId: string; guildId: string; channelId: string };

export type PresenceEvent = SessionEventModel | VoiceEventModel | ClockEvent | AdoptedSession | AdoptedSeat;

export type Outcome = 'applied' | 'duplicate' | 'stale' | 'ignored';

export interface ModelOptions {
  /** VOICE_SCOPE: one channel per user per guild (default), one per user, or any number. */
  voiceScope?: VoiceScope;
  /** SESSION_TTL_SECONDS > 0: sessions carry a lease that can run out (LEASE_EXPIRED). */
  leases?: boolean;
  /** STATE_PRIORITY, highest first; states not listed rank below, the smaller string first. */
  statePriority?: readonly string[];
  /** INVISIBLE_SHOWN_AS: what queries show for a user whose shown state is `invisible`. */
  invisibleShownAs?: string;
  /** MAX_SESSIONS_PER_USER. */
  maxSessionsPerUser?: number;
  /** VOICE_GRACE_SECONDS in ms: GRACE_EXPIRED events with a time are checked against it (see apply's serverNowMs). */
  voiceGraceMs?: number;
}

export const DEFAULT_STATE_PRIORITY: readonly string[] = ['invisible', 'dnd', 'online', 'idle'];

/** What Redis holds that a peer can observe. Channel arrays are in the order users sat down. */
export interface ObservableState {
  /** USER:STATE: the shown state of every user named in a session event. */
  userStates: Record<string, string>;
  /** GUILD:<guildId>: channelId -> userIds sitting there. */
  guildChannels: Record<string, Record<string, string[]>>;
  /** GUILD_ONLINE:<guildId>: userIds (sorted) with a live session that named the guild. */
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

/** One (userId, sessionId). `live: false` is the tombstone. */
interface Session {
  userId: string;
  sessionId: string;
  live: boolean;
  /** The winning CONNECT's state and time (status changes: newest time wins). */
  state: string;
  stateAt: number;
  guilds: Set<string>;
  /** Chat server -> earliest CONNECT time of this session from it (for RESET). */
  startedOn: Map<string, number>;
  /** Earliest CONNECT time: how old the session is (MAX_SESSIONS_PER_USER ends the oldest). */
  since: number;
  /** Newest CONNECT time: which user "the latest CONNECT with that id" names. -Infinity: only a DISCONNECT was seen. */
  latestConnectAt: number;
}

/** The newest JOIN of one user in one scope. */
interface Join {
  at: number;
  guildId: string;
  channelId: string;
  serverId?: string;
}

const channelKey = (guildId: string, channelId: string) => `${guildId}\u0000${channelId}`;

export class PresenceModel {
  readonly voiceScope: VoiceScope;
  private readonly leases: boolean;
  private readonly priority: readonly string[];
  private readonly invisibleShownAs: string;
  private readonly maxSessions: number;
  private readonly voiceGraceMs?: number;

  // --- sessions ---
  /** userId -> sessionId -> session (live or tombstone). */
  private readonly sessions = new Map<string, Map<string, Session>>();
  /** sessionId -> users who have a session with that id. */
  private readonly usersOfSessionId = new Map<string, Set<string>>();
  /** One-shot markers left by a DISCONNECT naming no user that came before any CONNECT with the id. */
  private readonly pendingDisconnects = new Set<string>();
  /** Chat server -> time of its latest RESET. */
  private readonly chatResets = new Map<string, number>();
  /** "userId\0sessionId" of sessions adopted from the original: they end when its key would have expired (LEASE_EXPIRED). */
  private readonly adoptedSessions = new Set<string>();
  /** Users named in a session event: they have a USER:STATE entry. */
  private readonly seenUsers = new Set<string>();

  // --- voice ---
  /** userId -> scope -> newest JOIN. */
  private readonly joins = new Map<string, Map<string, Join>>();
  /** userId -> channel -> time of the newest LEAVE. */
  private readonly leaves = new Map<string, Map<string, number>>();
  /** Signaling server -> time of its latest RESET. */
  private readonly voiceResets = new Map<string, number>();
  /** guildId -> channelId -> members in the order they sat down (the GUILD:<g> view). */
  private readonly channels = new Map<string, Map<string, string[]>>();

  private latestMs = 0;
  /** The state server's clock while an event is applied (apply's serverNowMs; unknown: +Infinity). */
  private serverNow = Infinity;
  /** userId -> the latest sign of chat life on the state server's clock, from which the grace period counts. */
  private readonly graceFrom = new Map<string, number>();

  constructor(options: ModelOptions = {}) {
    this.voiceScope = options.voiceScope ?? 'guild';
    this.leases = options.leases ?? false;
    this.priority = options.statePriority ?? DEFAULT_STATE_PRIORITY;
    this.invisibleShownAs = options.invisibleShownAs ?? 'offline';
    this.maxSessions = options.maxSessionsPerUser ?? 64;
    this.voiceGraceMs = options.voiceGraceMs;
  }

  /**
   * Applies one event with its record timestamp (the producing host's clock). CONNECT and both
   * RESETs take their time from their own `timestamp` when present. Without atMs: the event's
   * timestamp, or just after the latest time seen (for examples written in order). serverNowMs:
   * the state server's clock when it applies the event (only the grace period reads it).
   */
  apply(event: PresenceEvent, atMs: number = ownTimestamp(event) ?? this.latestMs + 1, serverNowMs = Infinity): Outcome {
    this.latestMs = Math.max(this.latestMs, atMs);
    this.serverNow = serverNowMs;
    switch (event.type) {
      case 'CONNECT':
        return this.connect(event, event.timestamp ?? atMs);
      case 'DISCONNECT':
        return this.disconnect(event.sessionId, event.userId);
      case 'HEARTBEAT':
        return this.heartbeat(event.sessionId, event.userId);
      case 'RESET':
        return this.resetChatServer(event.serverId, event.timestamp ?? atMs);
      case 'LEASE_EXPIRED':
        return this.expireLease(event.userId, event.sessionId);
      case 'JOIN':
        return this.join(event.userId, event.guildId, event.channelId, event.serverId, atMs);
      case 'LEAVE':
        if (event.userId === null || event.guildId === null || event.channelId === null) return 'ignored';
        return this.leave(event.userId, event.guildId, event.channelId, atMs);
      case 'VOICE_RESET':
        return this.resetSignalingServer(event.serverId, event.timestamp ?? atMs);
      case 'GRACE_EXPIRED':
        return this.endGrace(event.userId, event.at);
      // Adoption: the oldest possible CONNECT and JOIN (time 0, no server), so that anything we saw wins.
      case 'ADOPT_SESSION': {
        const outcome = this.connect({ type: 'CONNECT', userId: event.userId, sessionId: event.sessionId, state: event.state }, 0);
        if (outcome === 'applied') this.adoptedSessions.add(`${event.userId}\u0000${event.sessionId}`);
        return outcome;
      }
      case 'ADOPT_SEAT':
        return this.join(event.userId, event.guildId, event.channelId, undefined, 0);
    }
  }

  /** Applies events in order (see apply() for the times used). */
  applyAll(events: Iterable<PresenceEvent>): this {
    for (const event of events) this.apply(event);
    return this;
  }

  /** Session ids of the user's live sessions. */
  liveSessions(userId: string): string[] {
    return [...(this.sessions.get(userId)?.values() ?? [])].filter((s) => s.live).map((s) => s.sessionId);
  }

  /** The user's shown state: USER:STATE's value (also for users never seen: "offline"). */
  shownState(userId: string): string {
    let best: string | undefined;
    for (const session of this.sessions.get(userId)?.values() ?? []) {
      if (session.live && (best === undefined || this.compareStates(session.state, best) > 0)) best = session.state;
    }
    if (best === undefined) return 'offline';
    return best === 'invisible' ? this.invisibleShownAs : best;
  }

  // --- sessions -------------------------------------------------------------------------------

  /**
   * A CONNECT never revives an ended (u, s). On a live one it is a status change (newest time
   * wins). Otherwise (u, s) becomes live, unless a pending DISCONNECT marker for the id or its
   * server's later RESET ends it at once.
   */
  private connect(e: ConnectEvent, at: number): Outcome {
    const { userId, sessionId } = e;
    const state = e.state ?? 'online'; // (silent) a CONNECT without state: online, as the original did
    this.seenUsers.add(userId);
    // Whatever it does to its session, a CONNECT is a sign of the user's chat life at its own time (capped at now).
    this.signOfLife(userId, Math.min(at, this.serverNow));
    const existing = this.session(userId, sessionId);
    const session = existing ?? this.newSession(userId, sessionId, state, at);
    const before = snapshot(session);
    session.latestConnectAt = Math.max(session.latestConnectAt, at);

    // The marker is consumed by the first CONNECT with the id, whichever state its session is in
    // (silent: only a CONNECT on a tombstone can meet one; consuming it there too keeps the
    // marker's fate independent of order).
    const pending = this.pendingDisconnects.delete(sessionId);
    if (!session.live) return pending ? 'applied' : existing ? 'stale' : 'applied';

    session.since = Math.min(session.since, at);
    if (e.serverId !== undefined) session.startedOn.set(e.serverId, Math.min(at, session.startedOn.get(e.serverId) ?? Infinity));
    for (const guildId of e.guildIds ?? []) session.guilds.add(guildId);
    if (existing && this.compareStatus(at, state, session.stateAt, session.state) > 0) {
      session.state = state;
      session.stateAt = at;
    }
    const resetAt = e.serverId !== undefined ? this.chatResets.get(e.serverId) : undefined;
    if (pending || (resetAt !== undefined && at < resetAt)) {
      // A DISCONNECT that overtook this CONNECT, or a RESET of its server after it: ended already
      // (a new session never counted as live: its sign of life is its CONNECT's own, above).
      if (existing) this.endSession(session);
      else session.live = false;
      return 'applied';
    }
    if (!existing) {
      this.enforceSessionBound(userId);
      return 'applied';
    }
    if (snapshot(session) !== before) return 'applied';
    return at === session.stateAt && state === session.state ? 'duplicate' : 'stale';
  }

  private newSession(userId: string, sessionId: string, state: string, at: number): Session {
    const session: Session = {
      userId,
      sessionId,
      live: true,
      state,
      stateAt: at,
      guilds: new Set(),
      startedOn: new Map(),
      since: at,
      latestConnectAt: -Infinity,
    };
    this.putSession(session);
    return session;
  }

  private putSession(session: Session): void {
    mapOf(this.sessions, session.userId).set(session.sessionId, session);
    setOf(this.usersOfSessionId, session.sessionId).add(session.userId);
  }

  /**
   * Over MAX_SESSIONS_PER_USER live sessions, the oldest ends (by first CONNECT time; a tie goes to
   * the smaller session id: silent). The new session is among the candidates, so a CONNECT older
   * than all the others ends at once. NOT order-independent (see the model's tests).
   */
  private enforceSessionBound(userId: string): void {
    const live = [...(this.sessions.get(userId)?.values() ?? [])].filter((s) => s.live);
    live.sort((a, b) => a.since - b.since || compareText(a.sessionId, b.sessionId));
    for (const session of live.slice(0, Math.max(0, live.length - this.maxSessions))) this.endSession(session);
  }

  /**
   * With a user: ends (u, s), or leaves its tombstone if unknown. Without: the session of the
   * latest CONNECT with that id; if no session with the id is known, a one-shot pending marker.
   */
  private disconnect(sessionId: string, userId: string | undefined): Outcome {
    if (userId !== undefined) {
      this.seenUsers.add(userId);
      const session = this.session(userId, sessionId);
      if (session === undefined) {
        const tombstone = this.newSession(userId, sessionId, 'offline', Infinity);
        tombstone.live = false;
        return 'applied';
      }
      if (!session.live) return 'duplicate';
      this.endSession(session);
      return 'applied';
    }
    const session = this.sessionById(sessionId);
    if (session === undefined) {
      if (this.pendingDisconnects.has(sessionId)) return 'duplicate';
      this.pendingDisconnects.add(sessionId);
      return 'applied';
    }
    if (!session.live) return 'duplicate';
    this.endSession(session);
    return 'applied';
  }

  private heartbeat(sessionId: string, userId: string | undefined): Outcome {
    const session = userId !== undefined ? this.session(userId, sessionId) : this.sessionById(sessionId);
    return session?.live && this.leases ? 'applied' : 'ignored';
  }

  /** Every session of that chat server that started before `resetAt` ends; the reset time is kept for CONNECTs applied later. */
  private resetChatServer(serverId: string, resetAt: number): Outcome {
    const previous = this.chatResets.get(serverId);
    if (previous !== undefined && previous >= resetAt) return previous === resetAt ? 'duplicate' : 'stale';
    this.chatResets.set(serverId, resetAt);
    for (const userSessions of this.sessions.values()) {
      for (const session of userSessions.values()) {
        const started = session.startedOn.get(serverId);
        if (session.live && started !== undefined && started < resetAt) this.endSession(session);
      }
    }
    return 'applied';
  }

  /** A lease ran out; without leases only an adopted session has one: the original's key expiry. */
  private expireLease(userId: string, sessionId: string): Outcome {
    const session = this.session(userId, sessionId);
    if (!(this.leases || this.adoptedSessions.has(`${userId}\u0000${sessionId}`)) || !session?.live) return 'ignored';
    this.endSession(session);
    return 'applied';
  }

  /** The end of a session does not end voice (a chat reconnect keeps the call): only the grace period does, counted from now. */
  private endSession(session: Session): void {
    session.live = false;
    if (this.liveSessions(session.userId).length === 0) this.signOfLife(session.userId, this.serverNow);
  }

  private signOfLife(userId: string, at: number): void {
    this.graceFrom.set(userId, Math.max(at, this.graceFrom.get(userId) ?? -Infinity));
  }

  private session(userId: string, sessionId: string): Session | undefined {
    return this.sessions.get(userId)?.get(sessionId);
  }

  /**
   * "The user of the latest CONNECT with that id": the newest CONNECT time (silent: by record
   * time, not by the order applied; a tie goes to the larger userId). Only matters when two users
   * had the same session id, and then it is not order-independent (see the model's tests).
   */
  private sessionById(sessionId: string): Session | undefined {
    let found: Session | undefined;
    for (const userId of this.usersOfSessionId.get(sessionId) ?? []) {
      const session = this.session(userId, sessionId)!;
      if (
        found === undefined ||
        session.latestConnectAt > found.latestConnectAt ||
        (session.latestConnectAt === found.latestConnectAt && byId(userId, found.userId) > 0)
      )
        found = session;
    }
    return found;
  }

  /** > 0 when state a ranks above state b: the priority list, then other strings, the smaller first. */
  private compareStates(a: string, b: string): number {
    const rank = (s: string) => {
      const i = this.priority.indexOf(s);
      return i < 0 ? this.priority.length : i;
    };
    return rank(b) - rank(a) || -compareText(a, b);
  }

  /** > 0 when status (at, state) beats (bAt, bState): the newer CONNECT, then the higher-ranked state. */
  private compareStatus(at: number, state: string, bAt: number, bState: string): number {
    return Math.sign(at - bAt) || this.compareStates(state, bState);
  }

  // --- voice ----------------------------------------------------------------------------------

  private scopeOf(guildId: string, channelId: string): string {
    switch (this.voiceScope) {
      case 'guild':
        return guildId;
      case 'user':
        return '';
      case 'none':
        return channelKey(guildId, channelId);
    }
  }

  /**
   * The newest JOIN of its scope is kept (a tie goes to the larger guild id, then channel id;
   * then, silent, the larger serverId, absent smallest: a full tie must not be decided by the order
   * applied, or a RESET of one of the two servers would make the outcome order-dependent).
   */
  private join(userId: string, guildId: string, channelId: string, serverId: string | undefined, at: number): Outcome {
    const join: Join = { at, guildId, channelId, serverId };
    const scopes = mapOf(this.joins, userId);
    const scope = this.scopeOf(guildId, channelId);
    const current = scopes.get(scope);
    const order = current === undefined ? 1 : compareJoins(join, current);
    if (order <= 0) return order === 0 ? 'duplicate' : 'stale';
    scopes.set(scope, join);
    this.reseat(userId);
    // A seat taken while the user has no live chat session restarts the grace period.
    if (this.liveSessions(userId).length === 0 && this.seatsOf(userId).includes(join)) this.signOfLife(userId, this.serverNow);
    return 'applied';
  }

  /** Remembered per channel (the newest); the user sits in c iff no LEAVE of c is at or after the scope's newest JOIN, naming c. */
  private leave(userId: string, guildId: string, channelId: string, at: number): Outcome {
    const current = this.joins.get(userId)?.get(this.scopeOf(guildId, channelId));
    const previous = this.leaves.get(userId)?.get(channelKey(guildId, channelId));
    if (!this.recordLeave(userId, guildId, channelId, at)) return previous === at ? 'duplicate' : 'stale';
    this.reseat(userId);
    // (silent) A LEAVE older than the scope's newest JOIN is remembered but can never matter: stale.
    return current !== undefined && current.at > at ? 'stale' : 'applied';
  }

  private recordLeave(userId: string, guildId: string, channelId: string, at: number): boolean {
    const leaves = mapOf(this.leaves, userId);
    const key = channelKey(guildId, channelId);
    const previous = leaves.get(key);
    if (previous !== undefined && previous >= at) return false;
    leaves.set(key, at);
    return true;
  }

  /**
   * Every seat taken by a JOIN of that signaling server before `resetAt` ends. Kept as the server's
   * latest RESET time and checked against the scope's newest JOIN (see seatsOf), rather than as a
   * LEAVE at the JOIN's time: such a LEAVE would also end another server's JOIN of the same channel
   * in the same millisecond when that one is applied later, but not when it is applied earlier.
   */
  private resetSignalingServer(serverId: string, resetAt: number): Outcome {
    const previous = this.voiceResets.get(serverId);
    if (previous !== undefined && previous >= resetAt) return previous === resetAt ? 'duplicate' : 'stale';
    this.voiceResets.set(serverId, resetAt);
    for (const userId of this.joins.keys()) this.reseat(userId);
    return 'applied';
  }

  /**
   * No live chat session for the grace period: each seat ends as a LEAVE of its channel at its
   * JOIN's own time. A sweep at `at` (with voiceGraceMs) finds it run out only that long after the
   * user's last sign of chat life: their last session's end, a seat taken with none live, any CONNECT.
   */
  private endGrace(userId: string, at?: number): Outcome {
    if (this.liveSessions(userId).length > 0) return 'ignored';
    if (at !== undefined && this.voiceGraceMs !== undefined && at < (this.graceFrom.get(userId) ?? -Infinity) + this.voiceGraceMs)
      return 'ignored';
    const seats = this.seatsOf(userId);
    if (seats.length === 0) return 'ignored';
    for (const join of seats) this.recordLeave(userId, join.guildId, join.channelId, join.at);
    this.reseat(userId);
    return 'applied';
  }

  /**
   * The JOINs the user sits by: each scope's newest JOIN, unless a LEAVE of its channel is at or
   * after it, or its signaling server sent a RESET after it.
   */
  private seatsOf(userId: string): Join[] {
    const leaves = this.leaves.get(userId);
    return [...(this.joins.get(userId)?.values() ?? [])].filter(
      (j) =>
        (leaves?.get(channelKey(j.guildId, j.channelId)) ?? -Infinity) < j.at &&
        (j.serverId === undefined || (this.voiceResets.get(j.serverId) ?? -Infinity) <= j.at),
    );
  }

  /** Brings the GUILD:<g> view in line with the user's registers: out of channels they left, appended to ones they sat down in. */
  private reseat(userId: string): void {
    const seats = new Set(this.seatsOf(userId).map((j) => channelKey(j.guildId, j.channelId)));
    for (const [guildId, guild] of [...this.channels]) {
      for (const [channelId, members] of [...guild]) {
        if (!members.includes(userId)) continue;
        if (seats.delete(channelKey(guildId, channelId))) continue;
        const kept = members.filter((m) => m !== userId);
        if (kept.length > 0) guild.set(channelId, kept);
        else guild.delete(channelId); // an emptied channel disappears (the original's contract)
        if (guild.size === 0) this.channels.delete(guildId);
      }
    }
    for (const seat of seats) {
      const [guildId, channelId] = seat.split('\u0000');
      const guild = mapOf(this.channels, guildId);
      guild.set(channelId, [...(guild.get(channelId) ?? []), userId]);
    }
  }

  // --- what a peer can observe ----------------------------------------------------------------

  /** USER:STATE, GUILD:<g> (seating order) and GUILD_ONLINE:<g> (sorted), with empty entries left out. */
  observable(): ObservableState {
    const userStates: Record<string, string> = {};
    for (const userId of [...this.seenUsers].sort(byId)) userStates[userId] = this.shownState(userId);
    const guildOnline: Record<string, string[]> = {};
    for (const [userId, guilds] of this.onlineGuilds()) {
      for (const guildId of guilds) (guildOnline[guildId] ??= []).push(userId);
    }
    for (const members of Object.values(guildOnline)) members.sort(byId);
    return {
      userStates,
      guildChannels: Object.fromEntries([...this.channels.keys()].map((g) => [g, this.channelStates(g)])),
      guildOnline,
    };
  }

  /** GET /guilds/:g/states?userIds=… (named users, "offline" when never seen) or without userIds (online members not shown offline + voice occupants). */
  guildStates(guildId: string, userIds?: readonly string[]): GuildStatesAnswer {
    const channelStates = this.channelStates(guildId);
    const ids = userIds ? [...new Set(userIds)] : this.guildSnapshotUsers(guildId);
    const connectionStates = Object.fromEntries(ids.map((id) => [id, this.seenUsers.has(id) ? this.shownState(id) : 'offline']));
    return { guildId, connectionStates, channelStates };
  }

  /** POST /api/state/community/user/info: every named user, "offline" when never seen. */
  communityUserInfo(guildId: string, userIds: readonly string[]): Required<UserInfoAnswer> {
    return { connectionStates: this.knownStates(userIds), channelStates: this.channelStates(guildId) };
  }

  /** POST /api/state/direct/user/info: every named user, "offline" when never seen. */
  directUserInfo(userIds: readonly string[]): UserInfoAnswer {
    return { connectionStates: this.knownStates(userIds) };
  }

  /** userId -> guilds of their live sessions (users with none left out). */
  private onlineGuilds(): Map<string, Set<string>> {
    const result = new Map<string, Set<string>>();
    for (const [userId, userSessions] of this.sessions) {
      for (const session of userSessions.values()) {
        if (session.live) for (const guildId of session.guilds) setOf(result, userId).add(guildId);
      }
    }
    return result;
  }

  private channelStates(guildId: string): Record<string, string[]> {
    return Object.fromEntries([...(this.channels.get(guildId) ?? [])].map(([c, members]) => [c, [...members]]));
  }

  /**
   * The guild's online members and its voice occupants. A member shown "offline" (invisible) is
   * left out unless they sit in one of its channels, where they are visible anyway (silent in
   * docs/rules.md: the query route's choice, so that the snapshot does not leak presence).
   */
  private guildSnapshotUsers(guildId: string): string[] {
    const users = new Set<string>();
    for (const [userId, guilds] of this.onlineGuilds()) if (guilds.has(guildId) && this.shownState(userId) !== 'offline') users.add(userId);
    for (const members of this.channels.get(guildId)?.values() ?? []) members.forEach((m) => users.add(m));
    return [...users];
  }

  private knownStates(userIds: readonly string[]): Record<string, string> {
    const result: Record<string, string> = {};
    for (const id of new Set(userIds)) result[id] = this.shownState(id);
    return result;
  }
}

/** > 0 when JOIN a is newer: time, then the larger guild id, then channel id, then serverId. */
function compareJoins(a: Join, b: Join): number {
  return (
    Math.sign(a.at - b.at) ||
    byId(a.guildId, b.guildId) ||
    byId(a.channelId, b.channelId) ||
    compareText(a.serverId ?? '', b.serverId ?? '')
  );
}

/** Texts in the order of their UTF-8 bytes, as the rules say (not JavaScript's UTF-16 order, not a locale's). */
function compareText(a: string, b: string): number {
  return Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

function snapshot(session: Session): string {
  return JSON.stringify([
    session.live,
    session.state,
    session.stateAt,
    [...session.guilds].sort(),
    [...session.startedOn].sort(),
    session.since,
  ]);
}

function ownTimestamp(event: PresenceEvent): number | undefined {
  return 'timestamp' in event ? event.timestamp : undefined;
}

/** The topic an event travels on ('clock' for the state server's own clock). */
export function topicOf(event: PresenceEvent): 'sessionEvent' | 'channelEvent' | 'clock' {
  switch (event.type) {
    case 'JOIN':
    case 'LEAVE':
    case 'VOICE_RESET':
      return 'channelEvent';
    case 'LEASE_EXPIRED':
    case 'GRACE_EXPIRED':
      return 'clock';
    default:
      return 'sessionEvent';
  }
}

/** Orders decimal ids numerically (shorter first), for comparing sets read from Redis. */
export function byId(a: string, b: string): number {
  return a.length - b.length || compareText(a, b);
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
