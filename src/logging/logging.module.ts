import { DynamicModule, Global, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { AppConfig } from '../config/app-config';
import { AppLogger } from './app-logger';
import { requestLogging } from './request-logging';

export const REQUEST_LOGGING = Symbol('REQUEST_LOGGING');

/**
 * Structured logs: AppLogger (nestjs-pino's Logger) becomes the app logger (createApp calls app.useLogger), so
 * every `new Logger('Context')` in the code, Nest's own messages and the kafkajs logs routed
 * through it are JSON lines from the one pino logger. The request-logging middleware is mounted by
 * createApp ahead of everything else (hence `useExisting`), so even bodies rejected before routing are logged.
 */
@Global()
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig): DynamicModule {
    const middleware = requestLogging(config);
    return {
      module: LoggingModule,
      imports: [LoggerModule.forRoot({ pinoHttp: { logger: middleware.logger }, useExisting: true })],
      providers: [{ provide: REQUEST_LOGGING, useValue: middleware }, AppLogger],
      exports: [REQUEST_LOGGING, AppLogger],
    };
  }
}
