import Redis from 'ioredis';
import { STATE_TEXT } from '../common/state-text';
import { decodeJdkString, decodeJdkStringSet, isJdkSerialized } from './jdk-serialized';
import { redisKeys } from './redis-keys';

/**
 * The switch-over from the original (Java/Spring) state service, on the Redis it leaves (one
 * Redis: the original ran on one). What it wrote (Spring RedisTemplate: String keys and plain
 * values, JDK-serialized hash fields and values):
 *   <sessionId>       string  its userId, `SET … EX 60000` on CONNECT, deleted on DISCONNECT
 *   USER:STATE        hash    JDK String userId -> JDK String state
 *   GUILD:<guildId>   hash    JDK String channelId -> JDK HashSet<String> of userIds
 * Adopted (adopt-original.lua), so that nothing of it is lost and nothing of it lasts forever:
 * - each session key becomes a live session of its user, with the user's original state (a
 *   state of "offline" there, the original's two-device bug, reads as "online"): its HTTP
 *   DISCONNECT then answers the userId, and the user is online until their sessions end - at the
 *   latest when the key would have expired (a DISCONNECT lost while neither service ran);
 * - each seat becomes the oldest possible JOIN of it: the user's next LEAVE of the channel, a newer
 *   JOIN of its scope or the grace period ends it (readable lists in another spelling too);
 * - the JDK-serialized USER:STATE entries are removed: users with no session key read offline
 *   (nothing would ever end an "online" there).
 * Anything else foreign is left, counted in the report (and skipped by the answers).
 */
export interface AdoptionReport {
  sessions: number;
  seats: number;
  /** JDK-serialized USER:STATE entries removed. */
  states: number;
  /** Hash entries left as they were: neither ours nor a shape of the original's. */
  foreign: number;
}

/** One adopt-original.lua call: its operations and the binary fields they name by index (from 3: ARGV after the ops). */
export type AdoptionStep = (ops: unknown[], fields: Buffer[]) => Promise<number>;

const STEP = 200;
const SCAN_COUNT = 1000;
const CANONICAL_ID = /^[1-9][0-9]{0,18}$/;
/** A session key of the original: the chat server's WebSocket session id (a token without ':', unlike every key of ours). */
const SESSION_KEY = /^[A-Za-z0-9._@-]{1,128}$/;
const OWN_MEMBER_LIST = /^\["[1-9][0-9]{0,18}"(?:,"[1-9][0-9]{0,18}")*\]$/;

/** The JDK serialization of a short ASCII String (what the original wrote as a USER:STATE field for a userId). */
function jdkString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([Buffer.from([0xac, 0xed, 0x00, 0x05, 0x74, bytes.length >> 8, bytes.length & 0xff]), bytes]);
}

export async function adoptOriginalState(redis: Redis, step: AdoptionStep): Promise<AdoptionReport> {
  const report: AdoptionReport = { sessions: 0, seats: 0, states: 0, foreign: 0 };
  await adoptSessions(redis, step, report);
  await dropOriginalStates(redis, step, report);
  await adoptSeats(redis, step, report);
  return report;
}

async function adoptSessions(redis: Redis, step: AdoptionStep, report: AdoptionReport): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', SCAN_COUNT, 'TYPE', 'string');
    cursor = next;
    const candidates = keys.filter((key) => SESSION_KEY.test(key));
    if (candidates.length === 0) continue;
    const reads = redis.pipeline();
    for (const key of candidates) reads.get(key).pttl(key);
    const replies = (await reads.exec()) ?? [];
    const sessions: [string, string, number][] = [];
    candidates.forEach((key, i) => {
      const userId = replies[2 * i][1];
      const ttl = Number(replies[2 * i + 1][1]);
      // It always set an expiry; a key without one, or holding anything but an id, is someone else's.
      if (typeof userId === 'string' && CANONICAL_ID.test(userId) && ttl > 0) sessions.push([key, userId, ttl]);
    });
    if (sessions.length === 0) continue;
    const stateReads = redis.pipeline();
    for (const [, userId] of sessions) stateReads.hgetBuffer(redisKeys.userStates, jdkString(userId));
    const states = ((await stateReads.exec()) ?? []).map(([, value]) => {
      const state = value instanceof Buffer ? decodeJdkString(value) : undefined;
      return state !== undefined && state !== 'offline' && STATE_TEXT.test(state) ? state : 'online';
    });
    for (let start = 0; start < sessions.length; start += STEP) {
      const ops = sessions
        .slice(start, start + STEP)
        .map(([sessionId, userId, ttlMs], i) => ['S', sessionId, userId, states[start + i], ttlMs]);
      report.sessions += await step(ops, []);
    }
  } while (cursor !== '0');
}

async function dropOriginalStates(redis: Redis, step: AdoptionStep, report: AdoptionReport): Promise<void> {
  let cursor = '0';
  do {
    const [next, entries] = await redis.hscanBuffer(redisKeys.userStates, cursor, 'COUNT', SCAN_COUNT);
    cursor = next.toString();
    const fields: Buffer[] = [];
    for (let i = 0; i < entries.length; i += 2) {
      const [field, value] = [entries[i], entries[i + 1]];
      if (!isJdkSerialized(field)) continue; // ours
      const userId = decodeJdkString(field);
      if (userId !== undefined && CANONICAL_ID.test(userId) && decodeJdkString(value) !== undefined) fields.push(field);
      else report.foreign++;
    }
    for (let start = 0; start < fields.length; start += STEP) {
      const chunk = fields.slice(start, start + STEP);
      await step(
        chunk.map((_, i) => ['U', i + 1]),
        chunk,
      );
      report.states += chunk.length;
    }
  } while (cursor !== '0');
}

async function adoptSeats(redis: Redis, step: AdoptionStep, report: AdoptionReport): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisKeys.guildChannelsPrefix}*`, 'COUNT', SCAN_COUNT, 'TYPE', 'hash');
    cursor = next;
    for (const key of keys) {
      const guildId = key.slice(redisKeys.guildChannelsPrefix.length);
      if (CANONICAL_ID.test(guildId)) await adoptGuildSeats(redis, step, report, key, guildId);
    }
  } while (cursor !== '0');
}

/** One GUILD:<guildId> hash, read with HSCAN as bytes (its JDK-serialized field names are not text). */
async function adoptGuildSeats(redis: Redis, step: AdoptionStep, report: AdoptionReport, key: string, guildId: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, entries] = await redis.hscanBuffer(key, cursor, 'COUNT', SCAN_COUNT);
    cursor = next.toString();
    const ops: unknown[] = [];
    const fields: Buffer[] = [];
    for (let i = 0; i < entries.length; i += 2) {
      const [field, value] = [entries[i], entries[i + 1]];
      const channelId = isJdkSerialized(field) ? decodeJdkString(field) : field.toString();
      const members = decodeJdkStringSet(value);
      if (channelId === undefined || !CANONICAL_ID.test(channelId)) {
        report.foreign++;
      } else if (members !== undefined && members.every((id) => CANONICAL_ID.test(id))) {
        fields.push(field);
        ops.push(['V', guildId, channelId, members, fields.length]);
      } else if (!isJdkSerialized(field) && !OWN_MEMBER_LIST.test(value.toString()) && isJsonArray(value.toString())) {
        ops.push(['R', guildId, channelId]); // a readable list in another spelling
      } else if (!OWN_MEMBER_LIST.test(value.toString())) {
        report.foreign++;
      }
    }
    for (let start = 0; start < ops.length; start += STEP) {
      // Each chunk carries its own fields, renumbered from 1.
      const chunk = ops.slice(start, start + STEP) as unknown[][];
      const chunkFields: Buffer[] = [];
      for (const op of chunk) if (op[0] === 'V') op[4] = chunkFields.push(fields[(op[4] as number) - 1]);
      report.seats += await step(chunk, chunkFields);
    }
  } while (cursor !== '0');
}

function isJsonArray(text: string): boolean {
  try {
    return Array.isArray(JSON.parse(text));
  } catch {
    return false;
  }
}
