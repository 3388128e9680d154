import { ApplySteps, decodeChange, encodeChange, EventStep } from './apply-steps';
import { ChangeResult, StateChange } from './state-types';

/**
 * What the session id's step found (apply-events.lua's "c", "d", "h"), read as the step it answers:
 * refused (an error text: that change's result), a CONNECT's claim (whether a pending DISCONNECT
 * was there), or the user who owns the session id ('' if none; a DISCONNECT's outcome with it).
 */
type IdStepReply = { refused: ChangeResult } | { claimed: boolean } | { owner: string; code: unknown };

function decodeIdStep(kind: 'c' | 'd' | 'h', reply: unknown): IdStepReply {
  if (!Array.isArray(reply)) {
    // "c" answers a number; any other step answers a table, so a string is an error Redis raised.
    if (kind === 'c' && typeof reply !== 'string') return { claimed: reply === 1 };
    return { refused: decodeChange('D', reply) };
  }
  const [first, second] = reply as unknown[];
  return kind === 'd' ? { owner: (second as string) ?? '', code: first } : { owner: (first as string) ?? '', code: undefined };
}

/**
 * Redis Cluster: every script call touches one bucket (one slot), so a batch is applied in steps,
 * each one pipeline per master, all masters at once (docs/cluster.md):
 *   1. the session-id bucket of CONNECTs, and of DISCONNECTs / HEARTBEATs naming no user;
 *   2. the user's bucket: the rules, which return their follow-ups (kept in the bucket's outbox);
 *   3. the follow-ups, in the guild's (or session id's) bucket, newest version winning;
 *   4. the follow-ups confirmed: removed from the outboxes.
 */
export async function applyInBucketSteps(steps: ApplySteps, changes: readonly StateChange[], durable: boolean): Promise<ChangeResult[]> {
  const layout = steps.layout;
  const results = new Array<ChangeResult>(changes.length);

  // 1. The session id's bucket: CONNECT claims the id; a DISCONNECT or HEARTBEAT naming no user finds it.
  const idSteps: (EventStep & { event: ['c' | 'd' | 'h', ...string[]] })[] = [];
  changes.forEach((change, index) => {
    if (change.kind === 'connect')
      idSteps.push({ index, bucket: layout.bucketOf(change.sessionId), event: ['c', change.sessionId, change.userId] });
    else if ((change.kind === 'disconnect' || change.kind === 'heartbeat') && !change.userId)
      idSteps.push({
        index,
        bucket: layout.bucketOf(change.sessionId),
        event: [change.kind === 'disconnect' ? 'd' : 'h', change.sessionId],
      });
  });
  const found = new Map<number, IdStepReply>();
  if (idSteps.length > 0)
    (await steps.runSteps(idSteps, false)).replies.forEach((reply, i) =>
      found.set(idSteps[i].index, decodeIdStep(idSteps[i].event[0], reply)),
    );

  // 2. The user's bucket: the rules.
  const userSteps: EventStep[] = [];
  changes.forEach((change, index) => {
    const first = found.get(index);
    if (first && 'refused' in first) return void (results[index] = first.refused);
    let userId = 'userId' in change ? change.userId : undefined;
    if (first && 'owner' in first && !userId) {
      if (!first.owner) {
        // No CONNECT of that id is known: a DISCONNECT's own outcome (it waits for one), a HEARTBEAT renews nothing.
        results[index] = change.kind === 'disconnect' ? decodeChange('D', [first.code, '', 0]) : { outcome: 'duplicate' };
        return;
      }
      userId = first.owner;
    }
    const claimed = first && 'claimed' in first ? (first.claimed ? '1' : '0') : '';
    userSteps.push({ index, bucket: layout.bucketOf(userId!), event: encodeChange({ ...change, userId } as StateChange, claimed) });
  });
  const { replies, followUps } = await steps.runSteps(userSteps, durable);
  replies.forEach((reply, i) => (results[userSteps[i].index] = decodeChange(userSteps[i].event[0], reply)));

  // 3 and 4: the follow-ups in their buckets, then out of the outboxes.
  await steps.settle(followUps);
  return results;
}
