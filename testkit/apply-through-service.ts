import { decodeEvent } from '../src/ingest/event-decoding';
import { SessionEvent } from '../src/sessions/session-event';
import { ApplyOutcome } from '../src/state-store/state-store';
import { ChannelEvent } from '../src/voice/channel-event';
import { DeliveredLog, recordValue } from './event-log';
import { topicOf } from './presence-model';
import { StateHarness } from './state-harness';

/**
 * Applies a delivered log through the service's apply path: each record's value as its peer
 * writes it (recordValue), decoded as the consumer does, with its record timestamp; consecutive
 * records of one topic as one batch (as a partition's batch would come). Returns the outcomes.
 */
export async function applyThroughService(harness: StateHarness, log: DeliveredLog): Promise<ApplyOutcome[]> {
  const all: ApplyOutcome[] = [];
  const deliveries = log.deliveries;
  for (let i = 0; i < deliveries.length;) {
    const topic = topicOf(deliveries[i].event);
    if (topic === 'clock') throw new Error('the state server clock cannot be driven through the harness');
    let end = i + 1;
    while (end < deliveries.length && topicOf(deliveries[end].event) === topic) end++;
    const batch = deliveries.slice(i, end).map((d) => ({ value: Buffer.from(recordValue(d.event)), timestampMs: d.atMs }));
    const outcomes =
      topic === 'sessionEvent'
        ? await harness.sessions.applyAll(
            batch.map((r) => ({ event: decodeEvent(r.value, SessionEvent, 65536), timestampMs: r.timestampMs })),
          )
        : await harness.voice.applyAll(
            batch.map((r) => ({ event: decodeEvent(r.value, ChannelEvent, 65536), timestampMs: r.timestampMs })),
          );
    for (const outcome of outcomes)
      if (typeof outcome === 'object' && 'rejected' in outcome) throw new Error(`Redis rejected an event: ${outcome.rejected}`);
    all.push(...outcomes);
    i = end;
  }
  return all;
}
