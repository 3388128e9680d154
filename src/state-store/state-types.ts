import { ChainableCommander } from 'ioredis';
import { KeyLayout } from './redis-keys';

/** One change to apply, already decided by a service's rules. Each is applied atomically by apply-events.lua. */
export type StateChange =
  | {
      kind: 'connect';
      userId: string;
      sessionId: string;
      state: string;
      atMs: number;
      serverId: string | undefined;
      guildIds: readonly string[];
    }
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

/** One Redis node (a cluster master, or the single Redis) as health and metrics see it. */
export interface NodeStatus {
  node: string;
  up: boolean;
  error?: string;
  /** Keys it holds (DBSIZE), when up. */
  keys?: number;
}

/** One script call or command for one bucket; its reply comes back from runInBuckets in the order of the calls. */
export interface BucketCall {
  bucket: number;
  queue: (pipeline: ChainableCommander) => void;
}

/** A command's reply in a pipeline: the error Redis answered, or the value. */
export type Reply = [Error | null, unknown];

/** Runs bucket calls, one pipeline per node (RedisBackend), in a key layout. */
export interface BucketRunner {
  readonly layout: KeyLayout;
  runInBuckets(calls: readonly BucketCall[]): Promise<Reply[]>;
}
