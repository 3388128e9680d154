/**
 * The Redis key layout: the only place that knows it. Lua scripts receive the names (scriptLayout)
 * and the bucket's prefix (see scripts/prelude.lua). USER:STATE and GUILD:<guildId> are the original
 * service's contract, read by other tools. What each key means for the rules: docs/rules.md; the
 * layout on Redis Cluster and how each step that spans two slots converges: docs/cluster.md.
 *
 * On a single Redis every key has the name below. On Redis Cluster every key lives in one of 128
 * buckets and is prefixed with that bucket's hash tag, e.g. `{5n3}USER:STATE`, `{d5m}GUILD:42`:
 * keys of a user live in the user's bucket, keys of a guild in the guild's, keys of a session id in
 * the session id's, and keys that are one per deployment on a single Redis (USER:STATE, the
 * counters, the sweeps' sorted sets) are one per bucket. One script call touches one bucket.
 *
 *   USER:STATE                  hash    userId -> shown state (highest-ranked live session; offline)   [contract]
 *   GUILD:<guildId>             hash    channelId -> JSON array of userId strings sitting there          [contract]
 *   GUILD_ONLINE:<guildId>      set     userIds online with that guild among their live sessions' guildIds
 *   SESSION:<userId>:<sessionId> hash   state (live | ended), st, ts, since, server, guilds; ended ones expire
 *   SESSION_OWNER:<sessionId>   string  userId of the latest CONNECT with that id (DISCONNECTs naming no user)   [single Redis]
 *   SESSION_OWNERS:<sessionId>  hash    userId -> order of its claim, "|e" once its session ended (same use)     [cluster]
 *   PENDING_DISCONNECT:<sessionId> string a DISCONNECT that came before any CONNECT of that id (expires)
 *   USER_SESSIONS:<userId>      hash    live sessionId -> its state
 *   USER_GUILDS:<userId>        hash    guildId -> how many live sessions list it
 *   USER_VOICE:<userId>         hash    voice registers: J|<scope> newest JOIN, L|<g>:<c> newest LEAVE, n seats (M|<g>:<c> seats left by a move, cluster)
 *   VOICE_GRACE                 zset    userId -> when their seats end unless a session starts (ms)
 *   SERVER_SESSIONS:<serverId>  set     "<userId>:<sessionId>" of a chat-server instance's live sessions (RESET)
 *   SERVER_RESETS               hash    chat serverId -> time of its last RESET (ms)
 *   VOICE_SERVER_SEATS:<serverId> set   "<userId>|<scope>" seats taken by JOINs of a signaling server (RESET)
 *   VOICE_RESETS                hash    signaling serverId -> time of its last RESET (ms)
 *   SESSION_LEASES              zset    "<userId>:<sessionId>" -> lease expiry (ms), only with SESSION_TTL_SECONDS
 *   STATE_COUNTERS              hash    online_users, voice_seats: kept exact by the scripts, read by /metrics
 *   STATE_STORE:SINCE           string  when the state was started; absent = the state was lost (or never built)
 *   STATE_STORE:EPOCH           string  the state's epoch after a rebuild: consumers use group <KAFKA_GROUP_ID>.<epoch>
 *   STATE_STORE:REBUILD:<epoch> string  the end offsets a rebuild must reach (JSON), set by the first instance to switch
 *   STATE_STORE:APPLIED:<group> hash    session-topic partition -> next offset applied by consumer group <group> (bucket 0, next to its marker)
 *   STATE_CLOCK                 string  the bucket's version clock (µs, strictly increasing): change stream versions; on a cluster the follow-ups' too
 *   CHANGE_OUTBOX               stream  change stream records not yet on Kafka (r: the record's JSON); per bucket (scripts/change-outbox.lua)
 *   CHANGE_OVERFLOW             hash    past the outbox's limit: latest record per key, "#resync" while a RESYNC is owed
 *   CHANGE_RELAY                string  the instance relaying this bucket's outbox (a lease, expires)
 * Cluster only (the steps of an event that spans two buckets, docs/cluster.md):
 *   STATE_OUTBOX                zset    follow-up steps produced in this bucket, until applied (score: version)
 *   GUILD_VERSIONS:<guildId>    hash    "<channelId>|<userId>" (seat) / "o|<userId>" (online) -> version last applied
 *   GUILD_VERSIONS_GONE         zset    "<guildId>|<field>" of versions that say "absent", pruned after an hour
 */
export const redisKeys = {
  userStates: 'USER:STATE',
  guildChannelsPrefix: 'GUILD:',
  guildOnlinePrefix: 'GUILD_ONLINE:',
  sessionPrefix: 'SESSION:',
  sessionOwnerPrefix: 'SESSION_OWNER:',
  sessionOwnersPrefix: 'SESSION_OWNERS:',
  pendingDisconnectPrefix: 'PENDING_DISCONNECT:',
  userSessionsPrefix: 'USER_SESSIONS:',
  userGuildsPrefix: 'USER_GUILDS:',
  userVoicePrefix: 'USER_VOICE:',
  voiceGrace: 'VOICE_GRACE',
  serverSessionsPrefix: 'SERVER_SESSIONS:',
  serverResets: 'SERVER_RESETS',
  voiceServerSeatsPrefix: 'VOICE_SERVER_SEATS:',
  voiceResets: 'VOICE_RESETS',
  sessionLeases: 'SESSION_LEASES',
  counters: 'STATE_COUNTERS',
  storeMarker: 'STATE_STORE:SINCE',
  storeEpoch: 'STATE_STORE:EPOCH',
  storeRebuildPrefix: 'STATE_STORE:REBUILD:',
  appliedPositionsPrefix: 'STATE_STORE:APPLIED:',
  clock: 'STATE_CLOCK',
  outbox: 'STATE_OUTBOX',
  guildVersionsPrefix: 'GUILD_VERSIONS:',
  versionsGone: 'GUILD_VERSIONS_GONE',
  changeOutbox: 'CHANGE_OUTBOX',
  changeOverflow: 'CHANGE_OVERFLOW',
  changeRelay: 'CHANGE_RELAY',
} as const;

/** The layout as the scripts receive it (LAYOUT, compiled into the state library: state-scripts.ts); every name gets the bucket's prefix there. */
export const scriptLayout: string = JSON.stringify({
  userState: redisKeys.userStates,
  guild: redisKeys.guildChannelsPrefix,
  guildOnline: redisKeys.guildOnlinePrefix,
  session: redisKeys.sessionPrefix,
  sessionOwner: redisKeys.sessionOwnerPrefix,
  sessionOwners: redisKeys.sessionOwnersPrefix,
  pendingDisconnect: redisKeys.pendingDisconnectPrefix,
  userSessions: redisKeys.userSessionsPrefix,
  userGuilds: redisKeys.userGuildsPrefix,
  userVoice: redisKeys.userVoicePrefix,
  voiceGrace: redisKeys.voiceGrace,
  serverSessions: redisKeys.serverSessionsPrefix,
  serverResets: redisKeys.serverResets,
  voiceServerSeats: redisKeys.voiceServerSeatsPrefix,
  voiceResets: redisKeys.voiceResets,
  sessionLeases: redisKeys.sessionLeases,
  counters: redisKeys.counters,
  clock: redisKeys.clock,
  outbox: redisKeys.outbox,
  guildVersions: redisKeys.guildVersionsPrefix,
  versionsGone: redisKeys.versionsGone,
  changeOutbox: redisKeys.changeOutbox,
  changeOverflow: redisKeys.changeOverflow,
});

/**
 * The 128 bucket tags of Redis Cluster. Precomputed (tools: CRC16 of every base-36 string of up to
 * three characters, the shortest one hitting each target slot): tag i hashes to slot 128·i + 64, so
 * the buckets sit evenly over the 16,384 slots and any split of the slots into contiguous ranges
 * (redis-cli --cluster create, or a reshard moving ranges) gives each master its share of buckets.
 * Fixed for the life of a deployment: changing them moves every key (a replay into an empty cluster).
 * test/unit/redis-keys.test.ts checks every slot.
 */
export const BUCKET_TAGS: readonly string[] = [
  '5n3',
  'd5m',
  '7me',
  '3xc',
  'a2j',
  '0i4',
  'cu4',
  '2jb',
  '5js',
  '92e',
  'bcu',
  'fvs',
  '4xr',
  '0mt',
  'cqt',
  'x3',
  'dhn',
  '530',
  '3ah',
  '70f',
  '047',
  '4e9',
  'ex',
  '6fo',
  '9of',
  '57p',
  'fox',
  'j7n',
  '00w',
  '4ay',
  'a8',
  'kag',
  'h8q',
  '1j7',
  '78o',
  '3ia',
  '4m0',
  '0x6',
  '6nf',
  'mq',
  'hx9',
  '1nw',
  'brw',
  'fgq',
  '4ip',
  '81f',
  'kin',
  'i1',
  '174',
  'her',
  '34b',
  '7el',
  'ekm',
  '403',
  '0r',
  '63e',
  '13t',
  '5bz',
  'n3j',
  'jbd',
  '8le',
  '44s',
  '42',
  'k4m',
  '7lu',
  '3ys',
  'hlk',
  '975',
  'k94',
  '9k',
  'a3z',
  'ebt',
  '7h5',
  'f3k',
  '5kc',
  '93u',
  '6z4',
  '2o2',
  '4yb',
  '0ld',
  'nc0',
  '71v',
  '9j6',
  'h1h',
  'dh',
  'kd7',
  '8x7',
  'any',
  '3d8',
  '756',
  '1gn',
  '5rh',
  '221',
  'cio',
  '01g',
  'aj9',
  'su7',
  '3hq',
  'h9a',
  'daw',
  '6ov',
  'la',
  'afp',
  '846',
  '7y7',
  '3l1',
  '5za',
  '1og',
  '6k6',
  'g0h',
  'ab0',
  '09n',
  '35r',
  'jg4',
  'l5l',
  'hdb',
  '1b',
  '62u',
  '8i5',
  'i2k',
  '312',
  'bjl',
  '12d',
  '5cj',
  'gmk',
  '665',
  '0dm',
  '45c',
];

/**
 * The Redis Cluster slot of a key (CRC16-XMODEM of its hash tag, or of the whole key when it has
 * none, modulo 16384), as CLUSTER KEYSLOT computes it: the client groups commands by node with it.
 */
export function keySlot(key: string): number {
  let bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b); // {
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/**
 * The bucket of an id (user, guild, session): FNV-1a (32 bit) of its UTF-8 bytes, modulo the bucket
 * count. Not the id modulo 128, nor a simple polynomial hash: snowflakes and sequential ids share
 * long prefixes and differ in a few digits, which such hashes spread unevenly.
 */
export function bucketOfId(id: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(id, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash % BUCKET_TAGS.length;
}

/**
 * Key names for one deployment. `clustered`: Redis Cluster, 128 buckets, each key prefixed with its
 * bucket's hash tag. Otherwise one bucket (0) whose keys have today's names, no prefix.
 */
export class KeyLayout {
  /** The buckets that exist: every one on a cluster, the one bucket 0 on a single Redis. */
  readonly buckets: readonly number[];

  constructor(readonly clustered: boolean) {
    this.buckets = clustered ? BUCKET_TAGS.map((_, i) => i) : [0];
  }

  bucketOf(id: string): number {
    return this.clustered ? bucketOfId(id) : 0;
  }

  /** The prefix of every key of the bucket: its hash tag in braces on a cluster, nothing on a single Redis. */
  prefix(bucket: number): string {
    return this.clustered ? `{${BUCKET_TAGS[bucket]}}` : '';
  }

  /** The key a script call is routed by (KEYS[1]): the bucket's counters; prelude.lua derives the prefix from it. */
  anchor(bucket: number): string {
    return this.counters(bucket);
  }

  userStates(bucket: number): string {
    return this.prefix(bucket) + redisKeys.userStates;
  }

  /** USER:STATE shard holding this user's shown state. */
  userStatesOf(userId: string): string {
    return this.userStates(this.bucketOf(userId));
  }

  guildChannels(guildId: string): string {
    return this.prefix(this.bucketOf(guildId)) + redisKeys.guildChannelsPrefix + guildId;
  }

  guildOnline(guildId: string): string {
    return this.prefix(this.bucketOf(guildId)) + redisKeys.guildOnlinePrefix + guildId;
  }

  session(userId: string, sessionId: string): string {
    return `${this.prefix(this.bucketOf(userId))}${redisKeys.sessionPrefix}${userId}:${sessionId}`;
  }

  userSessions(userId: string): string {
    return this.prefix(this.bucketOf(userId)) + redisKeys.userSessionsPrefix + userId;
  }

  userVoice(userId: string): string {
    return this.prefix(this.bucketOf(userId)) + redisKeys.userVoicePrefix + userId;
  }

  /** Per bucket on a cluster: a chat server's live sessions of users in that bucket. */
  serverSessions(bucket: number, serverId: string): string {
    return this.prefix(bucket) + redisKeys.serverSessionsPrefix + serverId;
  }

  counters(bucket: number): string {
    return this.prefix(bucket) + redisKeys.counters;
  }

  marker(bucket: number): string {
    return this.prefix(bucket) + redisKeys.storeMarker;
  }

  /**
   * The session topic's applied positions of a consumer group (the session route's read-your-writes
   * wait): in bucket 0 beside that bucket's marker, which the script that raises them checks.
   */
  appliedPositions(groupId: string): string {
    return this.prefix(0) + redisKeys.appliedPositionsPrefix + groupId;
  }

  outbox(bucket: number): string {
    return this.prefix(bucket) + redisKeys.outbox;
  }

  changeOutbox(bucket: number): string {
    return this.prefix(bucket) + redisKeys.changeOutbox;
  }

  changeOverflow(bucket: number): string {
    return this.prefix(bucket) + redisKeys.changeOverflow;
  }

  changeRelay(bucket: number): string {
    return this.prefix(bucket) + redisKeys.changeRelay;
  }

  clock(bucket: number): string {
    return this.prefix(bucket) + redisKeys.clock;
  }
}
