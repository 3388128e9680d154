import { Inject, Injectable } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REDIS_CLIENT, RedisClient } from '../redis/redis.module';
import { StateStore, StateStoreUnavailableError } from '../state-store/state-store';

/** Per session-topic partition: the offset after the last record applied (absent = nothing applied yet). */
export type PartitionPositions = ReadonlyMap<number, number>;

/** Hears this instance's raises: the group and the positions Redis holds at least from then on. */
export type RaiseListener = (groupId: string, raised: PartitionPositions) => void;

type RaiseCommand = (key: string, marker: string, ...pairs: string[]) => Promise<number>;

/**
 * How far the state in Redis covers the session topic, per partition and per consumer group
 * (STATE_STORE:APPLIED:<group>): written by whichever instance consumes a partition, once a chunk's
 * state is in Redis; read by every instance's session route to wait until the records that were in
 * Kafka when a request arrived are applied (SessionCatchUp).
 *
 * Why not the group's committed offsets: they are committed after the state (they trail it), a
 * rebuild moves to another group, and after a Redis failover the rewind replays behind them (they
 * run ahead of what Redis holds). These positions are written by the consumer right after the
 * state they cover, in the same Redis, keyed by the group (the rebuild's epoch) and only while the
 * state's marker is there (raise-applied-positions.lua), so a lost Redis never looks caught up.
 */
@Injectable()
export class AppliedPositions {
  private readonly listeners: RaiseListener[] = [];

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    private readonly store: StateStore,
  ) {
    if (!('state_raiseAppliedPositions' in redis)) {
      redis.defineCommand('state_raiseAppliedPositions', {
        numberOfKeys: 2,
        lua: readFileSync(join(__dirname, '..', 'state-store', 'scripts', 'raise-applied-positions.lua'), 'utf8'),
      });
    }
  }

  /**
   * Raises the positions of `groupId` (never lowers them); then tells this instance's waiters at
   * once what Redis now holds at least, unless nothing was written (the state's marker is missing).
   */
  async raise(groupId: string, positions: ReadonlyMap<number, bigint>): Promise<void> {
    if (positions.size === 0) return;
    const pairs: string[] = [];
    for (const [partition, position] of positions) pairs.push(String(partition), position.toString());
    const raise = (this.redis as unknown as { state_raiseAppliedPositions: RaiseCommand }).state_raiseAppliedPositions;
    const written = await this.call(() =>
      raise.call(this.redis, this.store.layout.appliedPositions(groupId), this.store.layout.marker(0), ...pairs),
    );
    if (Number(written) !== 1) return;
    const raised = new Map([...positions].map(([partition, position]) => [partition, Number(position)]));
    for (const listener of this.listeners) listener(groupId, raised);
  }

  /** The positions of `groupId` as Redis holds them now. */
  async read(groupId: string): Promise<PartitionPositions> {
    const fields = await this.call(() => this.redis.hgetall(this.store.layout.appliedPositions(groupId)));
    return new Map(Object.entries(fields).map(([partition, position]) => [Number(partition), Number(position)]));
  }

  /**
   * Called after every raise by this instance that was written, with the positions it raised: Redis
   * holds them or higher from then on (the waiters need not read them back).
   */
  onRaised(listener: RaiseListener): void {
    this.listeners.push(listener);
  }

  private async call<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw new StateStoreUnavailableError((error as Error).message);
    }
  }
}
