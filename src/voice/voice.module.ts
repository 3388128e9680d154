import { Module } from '@nestjs/common';
import { StateStoreModule } from '../state-store/state-store.module';
import { VoiceController } from './voice.controller';
import { VoiceService } from './voice.service';

@Module({ imports: [StateStoreModule], controllers: [VoiceController], providers: [VoiceService] })
export class VoiceModule {}
