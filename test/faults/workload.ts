import { seeded } from '../../bench/lib/workload';
import { normalized } from '../model/observed-state';
import { ObservableState, PresenceEvent, PresenceModel } from '../model/presence-model';
import { Peers } from '../support/peers';

/** An event and its record timestamp (set on the Kafka record, as the peer's producer would). */
export interface TimedEvent {
  event: PresenceEvent;
  atMs: number;
}

/**
 * Realistic traffic for end-to-end fault tests and the soak: users who connect (one or two
 * devices), sit in voice, move, leave voice, disconnect; chat servers that restart (RESET).
 *
 * Through Kafka the service sees any interleaving of partitions and topics, plus replays after a
 * crash, so the final state is compared with the model only for traffic whose outcome does not
 * depend on that order ("confluent"). The stories are built so:
 * - a user's session events and channel events are keyed by userId (one partition per topic);
 * - a user who goes offline leaves voice first (LEAVE before the last DISCONNECT), as the
 *   signaling server does when the client goes away, and never comes back (a later visit gets a
 *   new userId), so the traffic does not depend on the record-time rules for its outcome;
 * - a user who stays online never drops to zero sessions (CONNECT the new device, then
 *   DISCONNECT the old one);
 * - a user's CONNECTs all carry the same state (online, or idle for some users) and DISCONNECTs
 *   carry "offline", the state a RESET records: which state value wins is decided by the order
 *   events are applied in, and a RESET may be applied before or after a user's CONNECTs (see
 *   docs/reliability.md);
 * - a RESET may come at any time: CONNECTs of its server from before it are ended whichever is
 *   applied first (SERVER_RESETS); all of a user's devices use the same chat server, because with
 *   devices on two servers a RESET applied early can end the user's presence before the session
 *   that spans it is applied, and a seat removed then is not restored (docs/reliability.md, case 5).
 * Channel member arrays are compared sorted: join order across users on different partitions is
 * not defined.
 */

interface UserStory {
  userId: string;
  /** Went offline: no more stories (a returning person gets a new userId). */
  retired?: boolean;
  sessions: { id: string; serverId: string }[];
  seat?: { guildId: string; channelId: string };
}

export interface WorkloadOptions {
  users?: number;
  guilds?: number;
  channelsPerGuild?: number;
  servers?: string[];
  seed?: number;
  /** Prefix of session ids, unique per run so runs sharing a broker never collide. */
  runId?: string;
}

export class StoryWorkload {
  readonly model = new PresenceModel();
  readonly guildIds: string[];
  readonly servers: string[];
  private users: UserStory[];
  private nextUserId = 1000;
  private readonly activeUsers: number;
  private readonly channelsPerGuild: number;
  private readonly runId: string;
  private random: () => number;
  private sessionCounter = 0;
  private lastTimestamp = 0;
  /** Events produced so far, in producer order. */
  produced = 0;

  constructor(options: WorkloadOptions = {}) {
    const users = options.users ?? 200;
    this.guildIds = Array.from({ length: options.guilds ?? 5 }, (_, i) => String(100 + i));
    this.channelsPerGuild = options.channelsPerGuild ?? 3;
    this.servers = options.servers ?? ['chat-a', 'chat-b', 'chat-c'];
    this.runId = options.runId ?? Math.random().toString(36).slice(2, 8);
    this.random = seeded(options.seed ?? 1);
    this.activeUsers = users;
    this.users = [];
  }

  /**
   * One round: a story for each of up to `count` distinct random users, interleaved; applied to
   * the model. Users who went offline since the last settled() sit it out: their next JOIN could
   * otherwise be applied before that last DISCONNECT (another topic) and be wiped by it.
   */
  round(count: number): TimedEvent[] {
    this.users = this.users.filter((u) => !u.retired);
    while (this.users.length < this.activeUsers) this.users.push({ userId: String(this.nextUserId++), sessions: [] });
    const chosen = this.shuffle([...this.users]).slice(0, count);
    const stories = chosen.map((user) => this.story(user));
    const events: PresenceEvent[] = [];
    for (let i = 0; stories.some((s) => i < s.length); i++) for (const s of stories) if (i < s.length) events.push(s[i]);
    return this.record(events);
  }

  /**
   * A chat server restarted: one RESET, ending every session it owned; users left without a
   * session go offline (and retire).
   */
  reset(serverId = this.pick(this.servers)): TimedEvent[] {
    for (const user of this.users) {
      const before = user.sessions.length;
      user.sessions = user.sessions.filter((s) => s.serverId !== serverId);
      if (before > 0 && user.sessions.length === 0) {
        user.seat = undefined;
        user.retired = true;
      }
    }
    const at = this.now();
    return this.record([{ type: 'RESET', serverId, timestamp: at }], at);
  }

  /** The state the service must reach: the model's, channel members sorted. */
  expected(): ObservableState {
    return normalized(this.model.observable());
  }

  /** Gives each event its record time (CONNECT / RESET: their own timestamp) and applies it to the model. */
  private record(events: PresenceEvent[], at?: number): TimedEvent[] {
    const timed = events.map((event) => ({ event, atMs: 'timestamp' in event && event.timestamp !== undefined ? event.timestamp : at ?? this.now() }));
    for (const { event, atMs } of timed) this.model.apply(event, atMs);
    this.produced += events.length;
    return timed;
  }

  private story(user: UserStory): PresenceEvent[] {
    const events: PresenceEvent[] = [];
    const userId = user.userId;
    const connect = () => {
      const session = { id: `${this.runId}-${++this.sessionCounter}`, serverId: this.servers[Number(userId) % this.servers.length] };
      user.sessions.push(session);
      const guildIds = this.shuffle([...this.guildIds]).slice(0, 1 + Math.floor(this.random() * 2));
      events.push({ type: 'CONNECT', sessionId: session.id, userId, state: Number(userId) % 5 === 0 ? 'idle' : 'online', guildIds, serverId: session.serverId, timestamp: this.now() });
    };
    const disconnect = (session: { id: string }) => {
      user.sessions = user.sessions.filter((s) => s !== session);
      events.push({ type: 'DISCONNECT', sessionId: session.id, userId, state: 'offline' });
    };
    const join = () => {
      const seat = { guildId: this.pick(this.guildIds), channelId: String(10 + Math.floor(this.random() * this.channelsPerGuild)) };
      user.seat = seat;
      events.push({ type: 'JOIN', userId, ...seat });
    };
    const leave = () => {
      if (user.seat) events.push({ type: 'LEAVE', userId, ...user.seat });
      user.seat = undefined;
    };
    const goOffline = () => {
      leave();
      for (const session of [...user.sessions]) disconnect(session);
      user.retired = true;
    };

    if (user.sessions.length === 0) {
      connect();
      if (this.random() < 0.3) connect();
      if (this.random() < 0.6) join();
      if (this.random() < 0.3) join();
      if (this.random() < 0.4) goOffline();
      return events;
    }
    const roll = this.random();
    if (roll < 0.3) goOffline();
    else if (roll < 0.5) join();
    else if (roll < 0.6) leave();
    else if (roll < 0.8) {
      const old = user.sessions[0];
      connect();
      disconnect(old); // a new device first, so the user never drops to zero sessions
    } else {
      connect();
      if (this.random() < 0.5) join();
    }
    return events;
  }

  private now(): number {
    this.lastTimestamp = Math.max(Date.now(), this.lastTimestamp + 1);
    return this.lastTimestamp;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  private shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

/** The record a peer would send for the event: key (userId, or serverId for RESET) and JSON value with bare-number ids. */
export function toRecord({ event, atMs }: TimedEvent): { topic: 'session' | 'channel'; key: string; value: string; timestamp: string } {
  const json: Record<string, unknown> = { ...event };
  for (const field of ['userId', 'guildId', 'channelId'] as const) if (typeof json[field] === 'string') json[field] = Number(json[field]);
  if (Array.isArray(json.guildIds)) json.guildIds = (json.guildIds as string[]).map(Number);
  const topic = event.type === 'JOIN' || event.type === 'LEAVE' ? 'channel' : 'session';
  const key = event.type === 'RESET' ? event.serverId : 'userId' in event && event.userId ? event.userId : (event as { sessionId: string }).sessionId;
  return { topic, key, value: JSON.stringify(json), timestamp: String(atMs) };
}

/** Publishes events like the peers do, in order per topic, in batches. */
export async function publish(peers: Peers, topics: { sessionEvents: string; channelEvents: string }, events: readonly TimedEvent[]): Promise<void> {
  type Message = { key: string; value: string; timestamp: string };
  const byTopic = { session: [] as Message[], channel: [] as Message[] };
  for (const timed of events) {
    const { topic, ...message } = toRecord(timed);
    byTopic[topic].push(message);
  }
  for (const [topic, messages] of [[topics.sessionEvents, byTopic.session], [topics.channelEvents, byTopic.channel]] as const) {
    for (let i = 0; i < messages.length; i += 1000) await peers.sendMany(topic, messages.slice(i, i + 1000));
  }
}
