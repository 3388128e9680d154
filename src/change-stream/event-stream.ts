import { ServerResponse } from 'node:http';
import { ChangeRecord } from './change-record';
import { encodePosition, StreamPosition, WindowEntry } from './change-window';

/** A client's stream is dropped once this much is waiting to be written to it: it does not keep up. */
export const MAX_UNSENT_BYTES = 1 << 20;

/** What a client asked to follow. */
export interface Subscription {
  userIds: ReadonlySet<string>;
  guildIds: ReadonlySet<string>;
  /** > 0: only the latest record per key within each such window (ms). */
  coalesceMs: number;
}

/** A snapshot as sent: the data, and per key (user, guild) the version it reflects: records at or below it are older. */
export interface Snapshot {
  data: { connectionStates: Record<string, string>; channelStates: Record<string, Record<string, string[]>>; reset?: true };
  versionOfUser(userId: string): number;
  versionOfGuild(guildId: string): number;
  position: StreamPosition;
}

/**
 * One client of GET /events: server-sent events written to its response. Records of the users and
 * guilds it named are sent in window order, each once and never one older than one it got (by
 * version per key), each with the window position after it as `id:`.
 */
export class EventStream {
  private readonly delivered = new Map<string, number>();
  private snapshot?: Snapshot;
  private held?: WindowEntry[] = [];
  private lastPosition?: StreamPosition;
  private readonly pending = new Map<string, WindowEntry>();
  private coalesceTimer?: NodeJS.Timeout;
  closed = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly subscription: Subscription,
    private readonly onDrop: (reason: string) => void,
  ) {}

  /** Whether the record concerns this client (RESYNC concerns everyone). */
  wants(record: ChangeRecord): boolean {
    if (record.type === 'PRESENCE') return this.subscription.userIds.has(record.userId!);
    if (record.type === 'VOICE') return this.subscription.guildIds.has(record.guildId!);
    return true;
  }

  /** Records are held from now until the next snapshot is sent (they come after the position it notes). */
  hold(): void {
    this.held ??= [];
  }

  /** Resuming from a Last-Event-ID: what it names counts as seen; the records after it go out, then those held meanwhile. */
  resume(from: StreamPosition, missed: readonly WindowEntry[]): void {
    this.lastPosition = new Map(from);
    this.snapshot = { data: { connectionStates: {}, channelStates: {} }, versionOfUser: () => 0, versionOfGuild: () => 0, position: from };
    const held = this.held ?? [];
    this.held = undefined;
    for (const entry of [...missed, ...held]) this.offer(entry);
  }

  sendSnapshot(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    this.write('snapshot', JSON.stringify(snapshot.data), snapshot.position);
    const held = this.held ?? [];
    this.held = undefined;
    for (const entry of held) this.offer(entry);
  }

  /** A record of the window (live, or replayed on resume); RESYNCs are the caller's. */
  offer(entry: WindowEntry): void {
    if (this.closed || !this.wants(entry.record)) return;
    if (this.held) return void this.held.push(entry);
    const record = entry.record;
    const version = record.version ?? 0;
    const floor =
      record.type === 'PRESENCE' ? this.snapshot!.versionOfUser(record.userId!) : this.snapshot!.versionOfGuild(record.guildId!);
    const key = entry.key!;
    if (version <= floor || version <= (this.delivered.get(key) ?? -1)) return;
    this.delivered.set(key, version);
    if (this.subscription.coalesceMs > 0) {
      this.pending.delete(key);
      this.pending.set(key, entry);
      this.coalesceTimer ??= setTimeout(() => this.flush(), this.subscription.coalesceMs);
      return;
    }
    this.write(record.type === 'PRESENCE' ? 'presence' : 'voice', entry.json, entry.after);
  }

  heartbeat(): void {
    if (!this.closed) this.res.write(': heartbeat\n\n');
  }

  /** The position this client has seen: the merge of where it resumed from and what it got since. */
  private idOf(after: StreamPosition): string {
    const merged = new Map(this.lastPosition);
    for (const [p, o] of after) merged.set(p, Math.max(o, merged.get(p) ?? 0));
    this.lastPosition = merged;
    return encodePosition(merged);
  }

  private flush(): void {
    this.coalesceTimer = undefined;
    for (const entry of this.pending.values()) this.write(entry.record.type === 'PRESENCE' ? 'presence' : 'voice', entry.json, entry.after);
    this.pending.clear();
  }

  private write(event: string, data: string, after: StreamPosition): void {
    if (this.closed) return;
    this.res.write(`event: ${event}\nid: ${this.idOf(after)}\ndata: ${data}\n\n`);
    if (this.res.writableLength > MAX_UNSENT_BYTES) this.drop('slow_client', 'the client reads slower than the changes come');
  }

  /** Ends the stream with an `event: error` saying why (best effort: a slow client may never read it). */
  drop(reason: string, message: string): void {
    if (this.closed) return;
    this.res.end(`event: error\ndata: ${JSON.stringify({ reason, message })}\n\n`);
    this.close();
    this.onDrop(reason);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.coalesceTimer);
  }
}
