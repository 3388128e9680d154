import { Module } from '@nestjs/common';
import { StateStoreModule } from '../state-store/state-store.module';
import { VoiceService } from './voice.service';

@Module({ imports: [StateStoreModule], providers: [VoiceService], exports: [VoiceService] })
export class VoiceModule {}
