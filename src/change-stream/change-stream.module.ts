import { Module } from '@nestjs/common';
import { REDIS_CLIENT, RedisClient } from '../redis/redis.module';
import { RecoveryModule } from '../recovery/recovery.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { StateStore } from '../state-store/state-store';
import { ChangeOutbox } from './change-outbox';
import { ChangeRelay } from './change-relay';
import { ChangeTopic } from './change-topic';
import { ChangeWindow } from './change-window';
import { EventsController } from './events.controller';

/** The change stream (docs/contracts.md): the outboxes relayed to CHANGE_TOPIC, and that topic served at /events. */
@Module({
  imports: [StateStoreModule, RecoveryModule],
  controllers: [EventsController],
  providers: [
    {
      provide: ChangeOutbox,
      useFactory: (store: StateStore, redis: RedisClient) => new ChangeOutbox(store, redis),
      inject: [StateStore, REDIS_CLIENT],
    },
    ChangeRelay,
    ChangeTopic,
    ChangeWindow,
  ],
})
export class ChangeStreamModule {}
