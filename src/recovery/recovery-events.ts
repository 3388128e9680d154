import { Injectable } from '@nestjs/common';

/**
 * What the recovery room tells the consumer, the one narrow interface between them:
 * - `rewind`: a Redis master changed or restarted, so its last writes may be lost: replay what was
 *   applied since `sinceMs` (partition-rewind.ts);
 * - `switch-group`: consume with `groupId` from now on (a rebuild's epoch group, state-rebuild.service.ts);
 * - `rebuilt`: a rebuild this instance replayed records of is done (the change stream owes a RESYNC).
 */
export type RecoveryEvent =
  { kind: 'rewind'; sinceMs: number; reason: string } | { kind: 'switch-group'; groupId: string } | { kind: 'rebuilt'; epoch: string };

/** The recovery room's announcements, in the order they happened; listeners queue their work and return. */
@Injectable()
export class RecoveryEvents {
  private readonly listeners: ((event: RecoveryEvent) => void)[] = [];

  subscribe(listener: (event: RecoveryEvent) => void): void {
    this.listeners.push(listener);
  }

  publish(event: RecoveryEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
