import { Module } from '@nestjs/common';
import { RecoveryModule } from '../recovery/recovery.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { VoiceController } from './voice.controller';
import { VoiceService } from './voice.service';

@Module({ imports: [StateStoreModule, RecoveryModule], controllers: [VoiceController], providers: [VoiceService] })
export class VoiceModule {}
