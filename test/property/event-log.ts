import fc from 'fast-check';
import { ChannelEventModel, PresenceEvent, SessionEventModel } from '../model/presence-model';

/**
 * Random event logs as Kafka can deliver them, for the property tests.
 *
 * A small id space so that collisions happen: 3 users, 6 sessions with fixed owners and chat
 * servers, 2 guilds of 2 channels. Peers key session events by userId (a DISCONNECT without userId
 * by sessionId, a RESET by serverId) and channel events by userId; each topic has 2 partitions.
 * Kafka keeps the order within a partition only, so a delivery is any interleaving of the
 * partitions (and of the two topics), and at-least-once delivery replays a partition from an
 * earlier offset (a "rewind"). Lease expiries are clock ticks, a stream of their own.
 */

export const USERS = ['1', '2', '3'] as const;
export const GUILDS = ['100', '200'] as const;
export const CHANNELS = ['10', '11'] as const;
export const SERVERS = ['chat-a', 'chat-b'] as const;
export const SESSIONS: readonly { id: string; userId: string; serverId?: string }[] = [
  { id: 's1', userId: '1', serverId: 'chat-a' },
  { id: 's2', userId: '1', serverId: 'chat-b' },
  { id: 's3', userId: '2', serverId: 'chat-a' },
  { id: 's4', userId: '2' },
  { id: 's5', userId: '3', serverId: 'chat-b' },
  { id: 's6', userId: '3', serverId: 'chat-a' },
];
export const CONNECT_STATES = ['online', 'idle'] as const;
export const DISCONNECT_STATES = ['offline', 'invisible'] as const;
const PARTITIONS = 2;

/** What a peer meant to send, before it gets a timestamp from its position in the produced log. */
type Intent =
  | { t: 'CONNECT'; s: number; state: string; guilds: string[] }
  | { t: 'DISCONNECT'; s: number; withUser: boolean; state?: string }
  | { t: 'HEARTBEAT'; s: number }
  | { t: 'RESET'; server: string }
  | { t: 'JOIN' | 'LEAVE'; user: string; guild: string; channel: string }
  | { t: 'LEASE_EXPIRED'; s: number };

export interface LogOptions {
  maxEvents: number;
  sessions?: boolean;
  channels?: boolean;
  resets?: boolean;
  leases?: boolean;
}

function intentArbitrary(o: LogOptions): fc.Arbitrary<Intent> {
  const s = fc.nat({ max: SESSIONS.length - 1 });
  const voice = (t: 'JOIN' | 'LEAVE') =>
    fc.record({ t: fc.constant(t), user: fc.constantFrom(...USERS), guild: fc.constantFrom(...GUILDS), channel: fc.constantFrom(...CHANNELS) });
  const options: fc.WeightedArbitrary<Intent>[] = [];
  if (o.sessions !== false) {
    options.push(
      { weight: 4, arbitrary: fc.record({ t: fc.constant('CONNECT' as const), s, state: fc.constantFrom(...CONNECT_STATES), guilds: fc.subarray([...GUILDS]) }) },
      {
        weight: 3,
        arbitrary: fc.record(
          { t: fc.constant('DISCONNECT' as const), s, withUser: fc.boolean(), state: fc.constantFrom(...DISCONNECT_STATES) },
          { requiredKeys: ['t', 's', 'withUser'] },
        ),
      },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('HEARTBEAT' as const), s }) },
    );
    if (o.resets !== false) options.push({ weight: 1, arbitrary: fc.record({ t: fc.constant('RESET' as const), server: fc.constantFrom(...SERVERS) }) });
    if (o.leases) options.push({ weight: 1, arbitrary: fc.record({ t: fc.constant('LEASE_EXPIRED' as const), s }) });
  }
  if (o.channels !== false) options.push({ weight: 4, arbitrary: voice('JOIN') }, { weight: 2, arbitrary: voice('LEAVE') });
  return fc.oneof(...options);
}

/** Record timestamps of produced events: in producer order, 10 ms apart, from this moment (in 2023). */
export const PRODUCED_FROM_MS = 1_700_000_000_000;
/**
 * When a lease runs out, as the service sees it: it uses Redis's clock, which is past every
 * produced timestamp (they are in 2023). So, as in the model, a lease expiry is "now".
 */
export const LEASE_CLOCK_MS = 8_000_000_000_000;

export function producedAt(index: number): number {
  return PRODUCED_FROM_MS + index * 10;
}

/** The produced log: what peers sent, in the order they sent it (timestamps follow that order). */
export function producedEvent(intent: Intent, index: number): PresenceEvent {
  const timestamp = producedAt(index);
  switch (intent.t) {
    case 'CONNECT': {
      const session = SESSIONS[intent.s];
      return { type: 'CONNECT', sessionId: session.id, userId: session.userId, state: intent.state, guildIds: intent.guilds, serverId: session.serverId, timestamp };
    }
    case 'DISCONNECT': {
      const session = SESSIONS[intent.s];
      return { type: 'DISCONNECT', sessionId: session.id, userId: intent.withUser ? session.userId : undefined, state: intent.state };
    }
    case 'HEARTBEAT':
      return { type: 'HEARTBEAT', sessionId: SESSIONS[intent.s].id };
    case 'RESET':
      return { type: 'RESET', serverId: intent.server, timestamp };
    case 'LEASE_EXPIRED':
      return { type: 'LEASE_EXPIRED', sessionId: SESSIONS[intent.s].id };
    default:
      return { type: intent.t, userId: intent.user, guildId: intent.guild, channelId: intent.channel };
  }
}

export type Topic = 'sessionEvent' | 'channelEvent' | 'clock';

export function topicOf(event: PresenceEvent): Topic {
  if (event.type === 'JOIN' || event.type === 'LEAVE') return 'channelEvent';
  if (event.type === 'LEASE_EXPIRED') return 'clock';
  return 'sessionEvent';
}

/** The record key a peer gives the event (what decides its partition). */
export function keyOf(event: PresenceEvent): string {
  switch (event.type) {
    case 'JOIN':
    case 'LEAVE':
      return event.userId;
    case 'CONNECT':
      return event.userId;
    case 'DISCONNECT':
      return event.userId ?? event.sessionId;
    case 'HEARTBEAT':
      return SESSIONS.find((s) => s.id === event.sessionId)?.userId ?? event.sessionId;
    case 'RESET':
      return event.serverId;
    case 'LEASE_EXPIRED':
      return 'clock';
  }
}

function streamOf(event: PresenceEvent): string {
  const topic = topicOf(event);
  if (topic === 'clock') return 'clock';
  const key = keyOf(event);
  let hash = 0;
  for (const ch of key) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `${topic}[${hash % PARTITIONS}]`;
}

/** One event as delivered to the service, with its record timestamp; `replay` marks a redelivery after a rewind. */
export class Delivery {
  constructor(
    readonly stream: string,
    readonly event: PresenceEvent,
    readonly atMs: number,
    readonly replay: boolean,
  ) {}

  toString(): string {
    const { type, ...fields } = this.event as PresenceEvent & Record<string, unknown>;
    const shown = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : v}`)
      .join(' ');
    const at = this.atMs === LEASE_CLOCK_MS ? 'now' : `t=${this.atMs - PRODUCED_FROM_MS}`;
    return `${this.stream.padEnd(16)} ${at.padEnd(6)} ${this.replay ? 'again ' : ''}${type} ${shown}`;
  }
}

/** A delivered log; prints one event per line so a shrunk counterexample reads as a story. */
export class DeliveredLog {
  constructor(readonly deliveries: readonly Delivery[]) {}

  get events(): PresenceEvent[] {
    return this.deliveries.map((d) => d.event);
  }

  /** The same delivery without redeliveries: what applying each event once looks like. */
  once(): DeliveredLog {
    return new DeliveredLog(this.deliveries.filter((d) => !d.replay));
  }

  [fc.toStringMethod](): string {
    return `DeliveredLog(${this.deliveries.length}):\n    ${this.deliveries.map(String).join('\n    ')}`;
  }
}

interface Step {
  pick: number;
  rewind: number;
}

/**
 * Delivers the produced log: at each step, the next record of one of the partitions not yet
 * drained (`pick`), after rewinding that partition by `rewind` records (a redelivery). Steps
 * shrink to pick 0 / rewind 0, which is the produced order, so counterexamples stay close to it.
 */
export function deliver(produced: readonly PresenceEvent[], steps: readonly Step[]): DeliveredLog {
  const streams = new Map<string, { event: PresenceEvent; atMs: number }[]>();
  produced.forEach((event, index) => {
    const stream = streamOf(event);
    if (!streams.has(stream)) streams.set(stream, []);
    streams.get(stream)!.push({ event, atMs: event.type === 'LEASE_EXPIRED' ? LEASE_CLOCK_MS : producedAt(index) });
  });
  const names = [...streams.keys()];
  const next = new Map(names.map((n) => [n, 0]));
  const delivered = new Map(names.map((n) => [n, 0])); // furthest position ever delivered
  const out: Delivery[] = [];
  for (let i = 0; ; i++) {
    const open = names.filter((n) => next.get(n)! < streams.get(n)!.length);
    if (open.length === 0) break;
    const step = steps[i] ?? { pick: 0, rewind: 0 };
    const name = open[step.pick % open.length];
    const rewind = name === 'clock' ? 0 : step.rewind; // a clock tick is not a record: never redelivered
    const position = Math.max(0, next.get(name)! - rewind);
    next.set(name, position + 1);
    const { event, atMs } = streams.get(name)![position];
    out.push(new Delivery(name, event, atMs, position < delivered.get(name)!));
    delivered.set(name, Math.max(delivered.get(name)!, position + 1));
  }
  return new DeliveredLog(out);
}

/** Logs of up to `maxEvents` produced events, delivered with interleavings and redeliveries. */
export function deliveredLogs(options: LogOptions & { rewinds?: boolean }): fc.Arbitrary<DeliveredLog> {
  const step = fc.record({
    pick: fc.nat({ max: 7 }),
    rewind: options.rewinds === false ? fc.constant(0) : fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
  });
  return fc
    .tuple(
      fc.array(intentArbitrary(options), { maxLength: options.maxEvents, size: 'max' }),
      fc.array(step, { maxLength: options.maxEvents, size: 'max' }),
    )
    .map(([intents, steps]) => deliver(intents.map(producedEvent), steps));
}

export type { ChannelEventModel, SessionEventModel };
