import { DynamicModule, Module } from '@nestjs/common';
import { ChangeStreamModule } from './change-stream/change-stream.module';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { GuildStatesModule } from './guild-states/guild-states.module';
import { HealthModule } from './health/health.module';
import { IngestModule } from './ingest/ingest.module';
import { MetricsModule } from './metrics/metrics.module';
import { RedisModule } from './redis/redis.module';
import { SessionsModule } from './sessions/sessions.module';
import { VoiceModule } from './voice/voice.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        RedisModule,
        MetricsModule,
        IngestModule,
        SessionsModule,
        VoiceModule,
        GuildStatesModule,
        HealthModule,
        ChangeStreamModule,
      ],
    };
  }
}
