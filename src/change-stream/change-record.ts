/** What the change stream reads of a change record (docs/contracts.md): its type, key fields and version. */
export interface ChangeRecord {
  type: 'PRESENCE' | 'VOICE' | 'RESYNC';
  userId?: string;
  guildId?: string;
  channelId?: string;
  version?: number;
}

const TYPE = '"type":"';
const USER_ID = '"userId":"';
const GUILD_ID = '"guildId":"';
const CHANNEL_ID = '"channelId":"';
const VERSION = '"version":';

/**
 * The fields of a change record's JSON the stream needs, read without parsing the whole record
 * (the relay and every instance's window see each record; a JSON.parse each showed in their
 * profiles). Sound for the flat objects change-outbox.lua and the relay write: a `"name":"` in a
 * JSON text is a key (a quote inside a string value is escaped). Anything else is parsed as JSON;
 * undefined when it is not a JSON object.
 */
export function readChangeRecord(json: string): ChangeRecord | undefined {
  const type = stringField(json, TYPE);
  if (type === 'PRESENCE' || type === 'VOICE' || type === 'RESYNC') {
    const userId = stringField(json, USER_ID);
    const guildId = stringField(json, GUILD_ID);
    const channelId = stringField(json, CHANNEL_ID);
    const version = numberField(json, VERSION);
    const complete = type === 'RESYNC' || (userId && version !== undefined && (type === 'PRESENCE' || (guildId && channelId))); // else maybe spaced: parse
    if (complete && userId !== null && guildId !== null && channelId !== null && version !== null)
      return { type, userId, guildId, channelId, version };
  }
  try {
    const record = JSON.parse(json) as unknown;
    return typeof record === 'object' && record !== null ? (record as ChangeRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** A record's key for "never an older version after a newer one": the user, or the seat. */
export function versionKey(record: ChangeRecord): string {
  return record.type === 'PRESENCE' ? `p${record.userId}` : `v${record.guildId}|${record.channelId}|${record.userId}`;
}

/** The Kafka key of a change record: the user (PRESENCE) or the guild (VOICE), so each key's records stay in order on one partition. */
export function kafkaKeyOf(json: string): string {
  const type = stringField(json, TYPE);
  const key = type === 'VOICE' ? stringField(json, GUILD_ID) : type === 'PRESENCE' ? stringField(json, USER_ID) : undefined;
  if (key) return key; // else spaced, escaped or not ours: parsed
  const record = readChangeRecord(json);
  return (record?.type === 'VOICE' ? record.guildId : record?.userId) ?? '';
}

/** The string value of a key; undefined when absent, null when it is not a plain string (escapes: parse instead). */
function stringField(json: string, needle: string): string | undefined | null {
  const at = json.indexOf(needle);
  if (at < 0) return undefined;
  const start = at + needle.length;
  const end = json.indexOf('"', start);
  if (end < 0) return null;
  const value = json.slice(start, end);
  return value.includes('\\') ? null : value;
}

/** The value of a numeric key (a plain integer); undefined when absent, null when it is not one. */
function numberField(json: string, needle: string): number | undefined | null {
  const at = json.indexOf(needle);
  if (at < 0) return undefined;
  const start = at + needle.length;
  let end = start;
  while (end < json.length && json.charCodeAt(end) >= 48 && json.charCodeAt(end) <= 57) end++;
  const next = json.charCodeAt(end);
  return end > start && (next === 44 || next === 125) ? Number(json.slice(start, end)) : null;
}
