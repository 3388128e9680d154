import { BeforeApplicationShutdown, Body, Controller, Get, Headers, Logger, Post, Query, Res } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiErrors, badRequestExamples } from '../docs/api-responses';
import { FastifyReply } from 'fastify';
import { abbreviate, canonicalId, ID_RULE } from '../common/snowflake-id';
import { AppConfig } from '../config/app-config';
import { badRequest } from '../http/bad-request';
import { errorBody } from '../http/error-body';
import { MetricsService } from '../metrics/metrics.service';
import { StateStore } from '../state-store/state-store';
import { ChangeOutbox } from './change-outbox';
import { ChangeWindow, decodePosition, WindowEntry } from './change-window';
import { EventStream, Snapshot, Subscription } from './event-stream';

const HEARTBEAT_MS = 15_000;
/** How long a resume waits for this instance to read up to the client's Last-Event-ID (it may lag another instance). */
const CATCH_UP_MS = 5_000;
const MAX_GUILDS = 1000;
const MAX_COALESCE_MS = 60_000;

const streamDocs = {
  ok: ApiOkResponse({
    description:
      'text/event-stream: `event: snapshot` ({"connectionStates":{…},"channelStates":{"<guildId>":{…}}}), then `event: presence` / `event: voice`, data the change record, id a position to resume from (Last-Event-ID)',
  }),
  off: ApiNotFoundResponse({ description: 'CHANGE_TOPIC is empty: the change stream is off' }),
  unavailable: {
    description: 'The change topic cannot be read yet, or Redis is unreachable',
    examples: {
      notYet: {
        summary: 'topic not read yet',
        value: errorBody(503, 'The change topic stateChanged cannot be read yet; try again shortly'),
      },
    },
  },
};

/**
 * GET /events and POST /events: server-sent events of the change stream for the users and guilds
 * named (docs/contracts.md): `event: snapshot`, then `event: presence` / `event: voice`, each with
 * an `id:` any instance can resume from (Last-Event-ID); a fresh snapshot with "reset":true when
 * that is no longer possible, and after a RESYNC.
 */
@ApiTags('change stream')
@Controller('events')
export class EventsController implements BeforeApplicationShutdown {
  private readonly log = new Logger('EventStream');
  private readonly streams = new Set<EventStream>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly window: ChangeWindow,
    private readonly store: StateStore,
    private readonly outbox: ChangeOutbox,
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
  ) {
    this.heartbeat = setInterval(() => this.streams.forEach((s) => s.heartbeat()), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  @Get()
  @ApiOperation({ summary: 'Server-sent events: a snapshot of the named users and guilds, then every change of them' })
  @ApiProduces('text/event-stream')
  @ApiQuery({ name: 'userIds', required: false, example: '5,6' })
  @ApiQuery({ name: 'guildIds', required: false, example: '1,2' })
  @ApiQuery({ name: 'coalesceMs', required: false, example: 250 })
  @streamDocs.ok
  @streamDocs.off
  @ApiErrors({ userIds: badRequestExamples.userIdsQuery }, { unavailable: streamDocs.unavailable })
  async get(
    @Query('userIds') userIds: unknown,
    @Query('guildIds') guildIds: unknown,
    @Query('coalesceMs') coalesceMs: unknown,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await this.open(reply, this.subscription(userIds, guildIds, coalesceMs), lastEventId);
  }

  @Post()
  @ApiOperation({ summary: 'As GET /events, the ids in a JSON body {"userIds":[…],"guildIds":[…]} (long lists)' })
  @ApiProduces('text/event-stream')
  @streamDocs.ok
  @streamDocs.off
  @ApiErrors({ userIds: badRequestExamples.userIdsQuery }, { body: true, unavailable: streamDocs.unavailable })
  async post(
    @Body() body: unknown,
    @Query('coalesceMs') coalesceMs: unknown,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const { userIds, guildIds } = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    await this.open(reply, this.subscription(userIds, guildIds, coalesceMs), lastEventId);
  }

  beforeApplicationShutdown(): void {
    clearInterval(this.heartbeat);
    for (const stream of this.streams) stream.drop('shutting_down', 'this instance is stopping: reconnect with Last-Event-ID');
  }

  private subscription(userIds: unknown, guildIds: unknown, coalesceMs: unknown): Subscription {
    const users = idList('userIds', userIds, this.config.MAX_QUERY_USER_IDS);
    const guilds = idList('guildIds', guildIds, MAX_GUILDS);
    if (users.length + guilds.length === 0) throw badRequest('userIds', 'name at least one user (userIds) or guild (guildIds) to follow');
    let coalesce = 0;
    if (coalesceMs !== undefined) {
      coalesce = typeof coalesceMs === 'string' && /^\d{1,6}$/.test(coalesceMs) ? Number(coalesceMs) : NaN;
      if (!(coalesce <= MAX_COALESCE_MS))
        throw badRequest('coalesceMs', `coalesceMs must be an integer from 0 to ${MAX_COALESCE_MS} (got ${abbreviate(coalesceMs)})`);
    }
    return { userIds: new Set(users), guildIds: new Set(guilds), coalesceMs: coalesce };
  }

  private async open(reply: FastifyReply, subscription: Subscription, lastEventId: string | undefined): Promise<void> {
    if (!this.window.enabled)
      return void reply.code(404).send(errorBody(404, 'The change stream is off on this deployment (CHANGE_TOPIC is empty)'));
    if (!this.window.ready)
      return void reply
        .code(503)
        .send(errorBody(503, `The change topic ${this.config.CHANGE_TOPIC} cannot be read yet; try again shortly`));
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const stream = new EventStream(res, subscription, (reason) => this.metrics.eventStreamDrops.inc({ reason }));
    this.streams.add(stream);
    this.metrics.eventStreamClients.inc();
    let lastResync: string | undefined;
    const unsubscribe = this.window.subscribe((entry: WindowEntry) => {
      if (entry.record.type !== 'RESYNC') return stream.offer(entry);
      // One RESYNC goes to every partition: one fresh snapshot for all its copies.
      if (entry.json !== lastResync) void this.snapshot(stream, subscription, true);
      lastResync = entry.json;
    });
    res.on('close', () => {
      stream.close();
      unsubscribe();
      this.streams.delete(stream);
      this.metrics.eventStreamClients.dec();
    });
    const from = lastEventId !== undefined ? decodePosition(lastEventId.trim()) : undefined;
    if (from && (await this.window.caughtUp(from, CATCH_UP_MS))) {
      const missed = this.window.after(from);
      if (missed && !missed.some((e) => e.record.type === 'RESYNC')) return stream.resume(from, missed);
    }
    await this.snapshot(stream, subscription, lastEventId !== undefined);
  }

  /**
   * The snapshot: the window's position noted first (records after it are held), then each
   * bucket's version clock, then the state. A held record at or below its key's clock is already in
   * the snapshot and is dropped.
   */
  private async snapshot(stream: EventStream, subscription: Subscription, reset: boolean): Promise<void> {
    stream.hold();
    const position = this.window.now();
    const users = [...subscription.userIds];
    const guilds = [...subscription.guildIds];
    const layout = this.store.layout;
    try {
      const clocks = await this.outbox.clocks([...new Set([...users, ...guilds].map((id) => layout.bucketOf(id)))]);
      const states = await this.store.readStates(users);
      const channelStates: Snapshot['data']['channelStates'] = {};
      for (const guildId of guilds) channelStates[guildId] = (await this.store.readGuild(guildId, [])).channels;
      const connectionStates = Object.fromEntries(users.map((u, i) => [u, states[i] ?? 'offline']));
      stream.sendSnapshot({
        data: { connectionStates, channelStates, ...(reset ? { reset: true as const } : {}) },
        versionOfUser: (userId) => clocks.get(layout.bucketOf(userId)) ?? 0,
        versionOfGuild: (guildId) => clocks.get(layout.bucketOf(guildId)) ?? 0,
        position,
      });
    } catch (error) {
      this.log.warn(`A snapshot for GET /events failed (${(error as Error).message}); the client was disconnected`);
      stream.drop('redis_unavailable', 'the state could not be read; reconnect shortly');
    }
  }
}

/** Ids as a comma-separated string (query) or a JSON array (body); absent is none. */
function idList(field: string, value: unknown, max: number): string[] {
  if (value === undefined || value === '') return [];
  const items = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : Array.isArray(value) ? value : undefined;
  if (!items) throw badRequest(field, `${field} must be a comma-separated list of ids (query) or an array of ids (body)`);
  if (items.length > max) throw badRequest(field, `${field} may name at most ${max} ids (got ${items.length})`);
  return items.map((item, i) => {
    const id = canonicalId(item);
    if (id === undefined) throw badRequest(field, `${field}[${i}] ${ID_RULE} (got ${abbreviate(item)})`);
    return id;
  });
}
