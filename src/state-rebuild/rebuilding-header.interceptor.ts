import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { StateRebuild } from './state-rebuild.service';

export const REBUILDING_HEADER = 'X-State-Rebuilding';

/**
 * Marks query answers given while the state is being rebuilt (`X-State-Rebuilding: true`): they
 * may miss presence the replay has not reached yet. Briefly incomplete beats an outage.
 */
@Injectable()
export class RebuildingHeaderInterceptor implements NestInterceptor {
  constructor(private readonly rebuild: StateRebuild) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (this.rebuild.status.rebuilding) {
      const response = context.switchToHttp().getResponse<{ header(name: string, value: string): unknown }>();
      response.header(REBUILDING_HEADER, 'true');
    }
    return next.handle();
  }
}
