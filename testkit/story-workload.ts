import { seeded } from './mixed-workload';
import { normalized } from './observed-state';
import { ObservableState, PresenceEvent, PresenceModel } from './presence-model';
import { Peers } from './peers';

/** An event and its record timestamp (set on the Kafka record, as the peer's producer would). */
export interface TimedEvent {
  event: PresenceEvent;
  atMs: number;
}

/**
 * Realistic traffic for end-to-end fault tests and the soak: users who connect (one or two
 * devices, each with its own state), change status, sit in voice (in one channel per guild, maybe
 * in two guilds), move, leave voice, disconnect and come back; chat servers that restart (RESET).
 *
 * The records are sent as the peers send them: unkeyed, so one user's records land on any
 * partition and are applied in any order, and are replayed after a crash. The rules
 * (docs/rules.md) make the end state independent of that order, so the service must end in the
 * model's state once it has caught up. Every record is timestamped from one clock (distinct,
 * increasing, in the order a story produces them), which is what the rules need: records whose
 * order matters carry timestamps from one host's clock. What the stories avoid:
 * - more live sessions per user than MAX_SESSIONS_PER_USER (eviction is order-dependent);
 * - a seat left behind by a user with no live chat session: the service's grace period
 *   (VOICE_GRACE_SECONDS, on its own clock) would end it, which a record-driven model cannot
 *   follow. A user who goes offline leaves voice first; a user whose sessions a RESET ended
 *   reconnects to another chat server (as the chat client does) when they sit in voice.
 * Session ids are unique per run, so a DISCONNECT without userId (as the chat server's HTTP call
 * sends it) is never ambiguous. Channel member arrays are compared sorted.
 */

interface UserStory {
  userId: string;
  sessions: { id: string; serverId: string }[];
  /** guildId -> the channel they sit in there (VOICE_SCOPE=guild). */
  seats: Map<string, string>;
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

const STATES = ['online', 'online', 'online', 'idle', 'dnd', 'invisible', 'Out to lunch'];

export class StoryWorkload {
  readonly model = new PresenceModel();
  readonly guildIds: string[];
  readonly servers: string[];
  private readonly users: UserStory[];
  private readonly channelsPerGuild: number;
  private readonly runId: string;
  private random: () => number;
  private sessionCounter = 0;
  private lastTimestamp = 0;
  /** Events produced so far, in producer order. */
  produced = 0;

  constructor(options: WorkloadOptions = {}) {
    this.guildIds = Array.from({ length: options.guilds ?? 5 }, (_, i) => String(100 + i));
    this.channelsPerGuild = options.channelsPerGuild ?? 3;
    this.servers = options.servers ?? ['chat-a', 'chat-b', 'chat-c'];
    this.runId = options.runId ?? Math.random().toString(36).slice(2, 8);
    this.random = seeded(options.seed ?? 1);
    this.users = Array.from({ length: options.users ?? 200 }, (_, i) => ({ userId: String(1000 + i), sessions: [], seats: new Map() }));
  }

  /** One round: a story for each of up to `count` distinct random users, interleaved; applied to the model. */
  round(count: number): TimedEvent[] {
    const chosen = this.shuffle([...this.users]).slice(0, count);
    const stories = chosen.map((user) => this.story(user));
    const events: PresenceEvent[] = [];
    for (let i = 0; stories.some((s) => i < s.length); i++) for (const s of stories) if (i < s.length) events.push(s[i]);
    return this.record(events);
  }

  /**
   * A chat server restarted: one RESET, ending every session it owned. A user left with no
   * session who sits in voice reconnects to another chat server (their call never dropped).
   */
  reset(serverId = this.pick(this.servers)): TimedEvent[] {
    const events: PresenceEvent[] = [{ type: 'RESET', serverId, timestamp: this.now() }];
    for (const user of this.users) {
      user.sessions = user.sessions.filter((s) => s.serverId !== serverId);
      if (user.sessions.length === 0 && user.seats.size > 0)
        events.push(
          this.connectEvent(
            user,
            this.servers.filter((s) => s !== serverId),
          ),
        );
    }
    return this.record(events);
  }

  /** The state the service must reach: the model's, channel members sorted. */
  expected(): ObservableState {
    return normalized(this.model.observable());
  }

  /** Gives each event its record time (CONNECT / RESET: their own timestamp) and applies it to the model. */
  private record(events: PresenceEvent[]): TimedEvent[] {
    const timed = events.map((event) => ({
      event,
      atMs: 'timestamp' in event && event.timestamp !== undefined ? event.timestamp : this.now(),
    }));
    for (const { event, atMs } of timed) this.model.apply(event, atMs);
    this.produced += events.length;
    return timed;
  }

  private connectEvent(user: UserStory, servers = this.servers): PresenceEvent {
    const session = { id: `${this.runId}-${++this.sessionCounter}`, serverId: this.pick(servers) };
    user.sessions.push(session);
    const guildIds = this.shuffle([...this.guildIds]).slice(0, 1 + Math.floor(this.random() * 2));
    return {
      type: 'CONNECT',
      sessionId: session.id,
      userId: user.userId,
      state: this.pick(STATES),
      guildIds,
      serverId: session.serverId,
      timestamp: this.now(),
    };
  }

  private story(user: UserStory): PresenceEvent[] {
    const events: PresenceEvent[] = [];
    const userId = user.userId;
    const connect = () => events.push(this.connectEvent(user));
    const disconnect = (session: { id: string }) => {
      user.sessions = user.sessions.filter((s) => s !== session);
      // As the chat server's HTTP call sends it (no userId), or as a record naming the user.
      events.push({ type: 'DISCONNECT', sessionId: session.id, userId: this.random() < 0.5 ? userId : undefined, state: 'offline' });
    };
    const statusChange = () => {
      const session = this.pick(user.sessions);
      events.push({
        type: 'CONNECT',
        sessionId: session.id,
        userId,
        state: this.pick(STATES),
        serverId: session.serverId,
        timestamp: this.now(),
      });
    };
    const join = () => {
      const guildId = this.pick(this.guildIds);
      const channelId = String(10 + Math.floor(this.random() * this.channelsPerGuild));
      user.seats.set(guildId, channelId); // a JOIN elsewhere in the guild moves them (the old socket's LEAVE may never come)
      events.push({ type: 'JOIN', userId, guildId, channelId });
    };
    const leave = () => {
      const [guildId, channelId] = this.pick([...user.seats]);
      user.seats.delete(guildId);
      events.push({ type: 'LEAVE', userId, guildId, channelId });
    };
    const goOffline = () => {
      while (user.seats.size > 0) leave();
      for (const session of [...user.sessions]) disconnect(session);
    };

    if (user.sessions.length === 0) {
      connect();
      if (this.random() < 0.3) connect();
      if (this.random() < 0.6) join();
      if (this.random() < 0.3) join();
      if (this.random() < 0.3) goOffline();
      return events;
    }
    const roll = this.random();
    if (roll < 0.25) goOffline();
    else if (roll < 0.45) join();
    else if (roll < 0.55 && user.seats.size > 0) leave();
    else if (roll < 0.65) statusChange();
    else if (roll < 0.8 || user.sessions.length >= 4) {
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

/** The record a peer would send for the event: no key (the peers send unkeyed records), JSON value with bare-number ids, the record timestamp. */
export function toRecord({ event, atMs }: TimedEvent): { topic: 'session' | 'channel'; key: null; value: string; timestamp: string } {
  const json: Record<string, unknown> = { ...event };
  for (const field of ['userId', 'guildId', 'channelId'] as const) if (typeof json[field] === 'string') json[field] = Number(json[field]);
  if (Array.isArray(json.guildIds)) json.guildIds = (json.guildIds as string[]).map(Number);
  for (const [k, v] of Object.entries(json)) if (v === undefined) delete json[k];
  const topic = event.type === 'JOIN' || event.type === 'LEAVE' || event.type === 'VOICE_RESET' ? 'channel' : 'session';
  if (event.type === 'VOICE_RESET') json.type = 'RESET';
  return { topic, key: null, value: JSON.stringify(json), timestamp: String(atMs) };
}

/** Publishes events like the peers do, in order per topic, in batches. */
export async function publish(
  peers: Peers,
  topics: { sessionEvents: string; channelEvents: string },
  events: readonly TimedEvent[],
): Promise<void> {
  type Message = { key: null; value: string; timestamp: string };
  const byTopic = { session: [] as Message[], channel: [] as Message[] };
  for (const timed of events) {
    const { topic, ...message } = toRecord(timed);
    byTopic[topic].push(message);
  }
  for (const [topic, messages] of [
    [topics.sessionEvents, byTopic.session],
    [topics.channelEvents, byTopic.channel],
  ] as const) {
    for (let i = 0; i < messages.length; i += 1000) await peers.sendMany(topic, messages.slice(i, i + 1000));
  }
}
