import fc from 'fast-check';
import { ClockEvent, PresenceEvent, topicOf } from './presence-model';

/**
 * Random sets of records as the peers produce them, and the orders Kafka may apply them in.
 *
 * The peers send unkeyed records, so any two records may be applied in either order, and any may
 * be applied again (at-least-once). What the rules may rely on is only that records that really
 * are ordered carry timestamps from one host's clock: so every record gets its timestamp from the
 * host that produced it, distinct per host (a chat server for session events, a signaling instance
 * for voice events), while different hosts' timestamps are unrelated and may tie.
 *
 * A small id space so that things collide: up to 3 users (one with a 64-bit snowflake id), 4
 * session ids that users share (a session id is per socket: another user may get it again), 2 chat
 * servers (and sessions of chat servers that send no serverId), 2 signaling instances, 2 guilds of
 * 2 channels, a handful of states (some that only the new rules accept).
 *
 * The state server's own clock (lease expiry, the voice grace period) is not a record: it splits
 * the log into segments; records are reordered within their segment, and redelivered anywhere
 * after their first segment.
 */

export const USERS = ['1', '2', '123456789012345678'] as const;
export const SESSION_IDS = ['s1', 's2', 's3', 's4'] as const;
export const CHAT_SERVERS = ['chat-a', 'chat-b'] as const;
export const SIGNALING_SERVERS = ['sig-1', 'sig-2'] as const;
export const GUILDS = ['100', '200'] as const;
export const CHANNELS = ['10', '11'] as const;
export const STATES = ['online', 'idle', 'dnd', 'invisible', 'away', 'In a call (back at 3)'] as const;

/** Records' timestamps are this plus a small number of ms: recent, so nothing is "too old to matter". */
export const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
/** A CONNECT or RESET that carries its own timestamp is produced this long after it (the record's timestamp). */
const PRODUCER_DELAY_MS = 7;

/** The chat server of (user, session): fixed, so that all of one session's CONNECTs come from one server; undefined = sends no serverId. */
export function chatServerOf(userId: string, sessionId: string): string | undefined {
  const i = USERS.indexOf(userId as (typeof USERS)[number]) + SESSION_IDS.indexOf(sessionId as (typeof SESSION_IDS)[number]);
  return [...CHAT_SERVERS, undefined][i % 3];
}

/** What a peer meant to send; `ts` is a raw time on its host's clock, made distinct per host later. */
type Intent =
  | { t: 'CONNECT'; user: string; session: string; state: string; guilds: string[]; ownTimestamp: boolean; ts: number }
  | { t: 'DISCONNECT'; user: string; session: string; withUser: boolean; ts: number }
  | { t: 'HEARTBEAT'; user: string; session: string; ts: number }
  | { t: 'RESET'; server: string; ts: number }
  | { t: 'JOIN'; user: string; guild: string; channel: string; host: string; sendsServerId: boolean; ts: number }
  | { t: 'LEAVE'; user: string; guild: string; channel: string; host: string; ts: number }
  | { t: 'NULL_LEAVE'; host: string; ts: number }
  | { t: 'VOICE_RESET'; host: string; ts: number }
  | { t: 'LEASE_EXPIRED'; user: string; session: string }
  | { t: 'GRACE_EXPIRED'; user: string };

export interface LogOptions {
  maxRecords: number;
  users?: number;
  sessions?: boolean;
  voice?: boolean;
  /** Chat-server and signaling RESETs. */
  resets?: boolean;
  /** LEASE_EXPIRED / GRACE_EXPIRED between segments (model only: the service's clock cannot be driven). */
  clock?: boolean;
}

function intentArbitrary(o: LogOptions): fc.Arbitrary<Intent> {
  const users = USERS.slice(0, o.users ?? USERS.length);
  const user = fc.constantFrom(...users);
  const session = fc.constantFrom(...SESSION_IDS);
  const ts = fc.nat({ max: 40 });
  const host = fc.constantFrom(...SIGNALING_SERVERS);
  const place = { user, guild: fc.constantFrom(...GUILDS), channel: fc.constantFrom(...CHANNELS), host, ts };
  const options: fc.WeightedArbitrary<Intent>[] = [];
  if (o.sessions !== false) {
    options.push(
      {
        weight: 5,
        arbitrary: fc.record({
          t: fc.constant('CONNECT' as const),
          user,
          session,
          state: fc.constantFrom(...STATES),
          guilds: fc.subarray([...GUILDS]),
          ownTimestamp: fc.boolean(),
          ts,
        }),
      },
      { weight: 3, arbitrary: fc.record({ t: fc.constant('DISCONNECT' as const), user, session, withUser: fc.boolean(), ts }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('HEARTBEAT' as const), user, session, ts }) },
    );
    if (o.resets !== false)
      options.push({ weight: 1, arbitrary: fc.record({ t: fc.constant('RESET' as const), server: fc.constantFrom(...CHAT_SERVERS), ts }) });
  }
  if (o.voice !== false) {
    options.push(
      { weight: 5, arbitrary: fc.record({ t: fc.constant('JOIN' as const), ...place, sendsServerId: fc.boolean() }) },
      { weight: 3, arbitrary: fc.record({ t: fc.constant('LEAVE' as const), ...place }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('NULL_LEAVE' as const), host, ts }) },
    );
    if (o.resets !== false) options.push({ weight: 1, arbitrary: fc.record({ t: fc.constant('VOICE_RESET' as const), host, ts }) });
  }
  if (o.clock) {
    if (o.sessions !== false)
      options.push({ weight: 1, arbitrary: fc.record({ t: fc.constant('LEASE_EXPIRED' as const), user, session }) });
    options.push({ weight: 1, arbitrary: fc.record({ t: fc.constant('GRACE_EXPIRED' as const), user }) });
  }
  return fc.oneof(...options);
}

/** A record as produced: the event, its record timestamp, and the host whose clock that is. */
export interface ProducedRecord {
  event: PresenceEvent;
  atMs: number;
  host: string;
}

/** A set of records split by the state server's clock: segment k's records are produced before clock event k. */
export interface RecordSet {
  segments: { records: ProducedRecord[]; then?: ClockEvent }[];
}

/** Turns intents into records: timestamps distinct per host; a DISCONNECT names no user only where that cannot be ambiguous (see below). */
export function recordSet(intents: readonly Intent[]): RecordSet {
  // A DISCONNECT without userId is found by its session id. When two users use that id, which
  // session it ends depends on the order applied (docs: reported as order-dependent), so such a
  // DISCONNECT names its user here, as the HTTP route's appended record does.
  const usersOfId = new Map<string, Set<string>>();
  for (const i of intents) if ('session' in i) usersOfId.set(i.session, new Set([...(usersOfId.get(i.session) ?? []), i.user]));
  const used = new Map<string, Set<number>>();
  const distinct = (host: string, ts: number) => {
    const taken = used.get(host) ?? new Set<number>();
    used.set(host, taken);
    while (taken.has(ts)) ts++;
    taken.add(ts);
    return BASE_MS + ts;
  };
  const chatHost = (user: string, session: string) => chatServerOf(user, session) ?? `chat of ${user}/${session}`;

  const segments: RecordSet['segments'] = [{ records: [] }];
  for (const i of intents) {
    const records = segments[segments.length - 1].records;
    switch (i.t) {
      case 'CONNECT': {
        const serverId = chatServerOf(i.user, i.session);
        const at = distinct(chatHost(i.user, i.session), i.ts);
        const event: PresenceEvent = {
          type: 'CONNECT',
          sessionId: i.session,
          userId: i.user,
          state: i.state,
          guildIds: i.guilds,
          serverId,
        };
        if (i.ownTimestamp)
          records.push({ event: { ...event, timestamp: at }, atMs: at + PRODUCER_DELAY_MS, host: chatHost(i.user, i.session) });
        else records.push({ event, atMs: at, host: chatHost(i.user, i.session) });
        break;
      }
      case 'DISCONNECT': {
        const withUser = i.withUser || usersOfId.get(i.session)!.size > 1;
        records.push({
          event: { type: 'DISCONNECT', sessionId: i.session, userId: withUser ? i.user : undefined },
          atMs: distinct(chatHost(i.user, i.session), i.ts),
          host: chatHost(i.user, i.session),
        });
        break;
      }
      case 'HEARTBEAT':
        records.push({
          event: { type: 'HEARTBEAT', sessionId: i.session, userId: i.user },
          atMs: distinct(chatHost(i.user, i.session), i.ts),
          host: chatHost(i.user, i.session),
        });
        break;
      case 'RESET': {
        const at = distinct(i.server, i.ts);
        records.push({ event: { type: 'RESET', serverId: i.server, timestamp: at }, atMs: at + PRODUCER_DELAY_MS, host: i.server });
        break;
      }
      case 'JOIN':
        records.push({
          event: { type: 'JOIN', userId: i.user, guildId: i.guild, channelId: i.channel, serverId: i.sendsServerId ? i.host : undefined },
          atMs: distinct(i.host, i.ts),
          host: i.host,
        });
        break;
      case 'LEAVE':
        records.push({
          event: { type: 'LEAVE', userId: i.user, guildId: i.guild, channelId: i.channel },
          atMs: distinct(i.host, i.ts),
          host: i.host,
        });
        break;
      case 'NULL_LEAVE':
        records.push({
          event: { type: 'LEAVE', userId: null, guildId: null, channelId: null },
          atMs: distinct(i.host, i.ts),
          host: i.host,
        });
        break;
      case 'VOICE_RESET': {
        const at = distinct(i.host, i.ts);
        records.push({ event: { type: 'VOICE_RESET', serverId: i.host, timestamp: at }, atMs: at, host: i.host });
        break;
      }
      case 'LEASE_EXPIRED':
        segments[segments.length - 1].then = { type: 'LEASE_EXPIRED', userId: i.user, sessionId: i.session };
        segments.push({ records: [] });
        break;
      case 'GRACE_EXPIRED':
        segments[segments.length - 1].then = { type: 'GRACE_EXPIRED', userId: i.user };
        segments.push({ records: [] });
        break;
    }
  }
  return { segments };
}

/** One application: a record (with its record timestamp), or the state server's clock; `again` marks a redelivery. */
export interface Delivery {
  event: PresenceEvent;
  atMs: number;
  again: boolean;
}

export function describeDelivery(d: Delivery): string {
  const { type, ...fields } = d.event as PresenceEvent & Record<string, unknown>;
  const shown = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : k === 'timestamp' ? `t${Number(v) - BASE_MS}` : String(v)}`)
    .join(' ');
  const topic = topicOf(d.event);
  return `${topic.padEnd(12)} ${topic === 'clock' ? '     ' : `t${String(d.atMs - BASE_MS).padEnd(4)}`}${d.again ? ' again' : ''} ${type} ${shown}`;
}

/** A delivered log; prints one application per line so that a shrunk counterexample reads as a story. */
export class DeliveredLog {
  constructor(readonly deliveries: readonly Delivery[]) {}

  [fc.toStringMethod](): string {
    return `DeliveredLog(${this.deliveries.length}):\n    ${this.deliveries.map(describeDelivery).join('\n    ')}`;
  }
}

/** The records in the order produced, each once: the reference order. */
export function producedOrder(set: RecordSet): DeliveredLog {
  const out: Delivery[] = [];
  for (const { records, then } of set.segments) {
    for (const r of records) out.push({ event: r.event, atMs: r.atMs, again: false });
    if (then) out.push({ event: then, atMs: 0, again: false });
  }
  return new DeliveredLog(out);
}

interface Shuffle {
  /** Sort key of each record within its segment (all 0: the produced order). */
  keys: number[];
  /** Redeliveries: which earlier-or-same-segment record, into which segment, where. */
  again: { segment: number; pick: number; key: number }[];
}

/** Applies a shuffle to a record set: records reordered within their segment, redeliveries added. */
export function shuffled(set: RecordSet, shuffle: Shuffle): DeliveredLog {
  const out: Delivery[] = [];
  const earlier: ProducedRecord[] = [];
  let k = 0;
  set.segments.forEach(({ records, then }, s) => {
    earlier.push(...records);
    const items = records.map((r) => ({ r, key: shuffle.keys[k++] ?? 0, again: false }));
    for (const a of shuffle.again) {
      if (a.segment % set.segments.length === s && earlier.length > 0)
        items.push({ r: earlier[a.pick % earlier.length], key: a.key, again: true });
    }
    items.sort((a, b) => a.key - b.key); // stable: equal keys keep the produced order
    const seen = new Set<ProducedRecord>();
    for (const { r } of items) {
      // "again" is what a reader needs: the record was applied before (in this or an earlier segment)
      const again = seen.has(r) || !records.includes(r);
      seen.add(r);
      out.push({ event: r.event, atMs: r.atMs, again });
    }
    if (then) out.push({ event: then, atMs: 0, again: false });
  });
  return new DeliveredLog(out);
}

/** A record set and one delivery of it; prints both, one application per line. */
export class Scenario {
  constructor(
    readonly set: RecordSet,
    readonly delivered: DeliveredLog,
  ) {}

  get produced(): DeliveredLog {
    return producedOrder(this.set);
  }

  [fc.toStringMethod](): string {
    return `produced:\n    ${this.produced.deliveries.map(describeDelivery).join('\n    ')}\n  delivered:\n    ${this.delivered.deliveries.map(describeDelivery).join('\n    ')}`;
  }
}

/** Record sets, each delivered in some order with some redeliveries. */
export function scenarios(options: LogOptions & { redeliveries?: boolean }): fc.Arbitrary<Scenario> {
  return fc.tuple(recordSets(options), shuffles(options)).map(([set, shuffle]) => new Scenario(set, shuffled(set, shuffle)));
}

export function recordSets(options: LogOptions): fc.Arbitrary<RecordSet> {
  return fc.array(intentArbitrary(options), { minLength: 1, maxLength: options.maxRecords, size: 'max' }).map(recordSet);
}

export function shuffles(options: { maxRecords: number; redeliveries?: boolean }): fc.Arbitrary<Shuffle> {
  return fc.record({
    keys: fc.array(fc.nat({ max: 1000 }), { minLength: options.maxRecords, maxLength: options.maxRecords }),
    again:
      options.redeliveries === false
        ? fc.constant([])
        : fc.array(fc.record({ segment: fc.nat({ max: 20 }), pick: fc.nat({ max: 1000 }), key: fc.nat({ max: 1000 }) }), {
            maxLength: Math.ceil(options.maxRecords / 3),
          }),
  });
}

/**
 * The record's value as its peer writes it: JSON text with ids as bare numbers (Spring's Long,
 * NestJS's Number(...)), written as digits so a 64-bit id is not rounded; a voice RESET is
 * type RESET on channelEvent. Clock events have none.
 */
export function recordValue(event: PresenceEvent): string {
  const ids = new Set(['userId', 'guildId', 'channelId']);
  const json = (key: string, value: unknown): string => {
    if (value === null) return 'null';
    if (Array.isArray(value)) return `[${value.map((v) => json(key, v)).join(',')}]`;
    if ((ids.has(key) || key === 'guildIds') && typeof value === 'string') return value;
    return JSON.stringify(value);
  };
  const fields = Object.entries({ ...event, type: event.type === 'VOICE_RESET' ? 'RESET' : event.type }).filter(([, v]) => v !== undefined);
  return `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${json(k, v)}`).join(',')}}`;
}
