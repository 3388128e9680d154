import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { MetricsService } from './metrics.service';

/** Prometheus scrape endpoint; open without the API token and not rate limited. */
@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics (text exposition format); open without the API token, not rate limited' })
  @ApiProduces('text/plain')
  @ApiOkResponse({
    description:
      "The service's metrics are named state_server_*, prom-client's default ones process_* and nodejs_*; see docs/operations.md",
    content: {
      'text/plain': {
        schema: { type: 'string' },
        example:
          '# HELP state_server_events_total Events consumed, by topic, event type and outcome (applied, duplicate, dead_lettered)\n' +
          '# TYPE state_server_events_total counter\n' +
          'state_server_events_total{topic="sessionEvent",type="CONNECT",outcome="applied"} 1042\n' +
          'state_server_events_total{topic="sessionEvent",type="invalid",outcome="dead_lettered"} 3\n' +
          '# HELP state_server_online_users Users with at least one live session; estimated from a random sample of known users (exact up to 1000 users)\n' +
          '# TYPE state_server_online_users gauge\n' +
          'state_server_online_users 981\n',
      },
    },
  })
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
