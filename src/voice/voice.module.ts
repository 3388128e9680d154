import { Module } from '@nestjs/common';
import { RecoveryModule } from '../recovery/recovery.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { VoiceService } from './voice.service';

@Module({ imports: [StateStoreModule, RecoveryModule], providers: [VoiceService], exports: [VoiceService] })
export class VoiceModule {}
