import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppConfig } from '../config/app-config';

/** OpenAPI UI at /docs, the document at /docs-json. Behind the API token like every route but health and metrics. */
export function setupApiDocs(app: INestApplication, config: AppConfig): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('State server')
      .setDescription(
        'Presence and voice-channel state of users, kept from the `sessionEvent` and `channelEvent` Kafka topics. ' +
          'Ids are decimal strings of up to 19 digits (64-bit snowflakes); request bodies may also give them as bare JSON numbers, every digit is kept. ' +
          `Every route but /health/* and /metrics needs \`Authorization: Bearer <API_TOKEN>\` when API_TOKEN is set${config.API_TOKEN ? ' (it is, on this instance)' : ' (it is not, on this instance)'}. ` +
          "Every response carries an `x-request-id` header (the caller's, if it sent a sane one), also found in the request's log line when HTTP_LOG gives it one.",
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'The API_TOKEN of the instance' })
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}
