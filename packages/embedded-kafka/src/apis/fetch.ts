/**
 * Fetch (key 1), v4 only (the first version where clients accept RecordBatch v2
 * without broker down-conversion). Serves stored batch bytes by reference and
 * long-polls: a fetch that finds fewer than min_bytes parks until a produce to
 * one of its partitions wakes it or max_wait_ms passes, so idle consumers cost
 * nothing but a timer.
 */
import { ApiDefinition, BrokerContext } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { Writer } from '../protocol';

interface PartitionRequest {
  partition: number;
  fetchOffset: number;
  maxBytes: number;
}

interface TopicRequest {
  topic: string;
  partitions: PartitionRequest[];
}

interface PartitionResult {
  partition: number;
  errorCode: number;
  highWatermark: number;
  batches: Buffer[];
  bytes: number;
}

function readAll(broker: BrokerContext, topics: TopicRequest[], responseMaxBytes: number) {
  let total = 0;
  let errors = false;
  const results = topics.map(({ topic, partitions }) => ({
    topic,
    partitions: partitions.map(({ partition, fetchOffset, maxBytes }): PartitionResult => {
      const log = broker.topics.partition(topic, partition);
      if (!log) {
        errors = true;
        return { partition, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, highWatermark: -1, batches: [], bytes: 0 };
      }
      const base = { partition, highWatermark: log.highWatermark, batches: [] as Buffer[], bytes: 0 };
      if (fetchOffset < log.logStartOffset || fetchOffset > log.highWatermark) {
        errors = true;
        return { ...base, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE };
      }
      if (fetchOffset === log.highWatermark || (total > 0 && total >= responseMaxBytes)) {
        return { ...base, errorCode: ErrorCode.NONE };
      }
      const limit = total > 0 ? Math.min(maxBytes, responseMaxBytes - total) : maxBytes;
      const { batches, bytes } = log.read(fetchOffset, limit);
      total += bytes;
      return { ...base, errorCode: ErrorCode.NONE, batches, bytes };
    }),
  }));
  return { results, total, errors };
}

function encode(results: ReturnType<typeof readAll>['results']): Writer {
  const w = new Writer();
  w.int32(0); // throttle_time_ms
  w.array(results, (tw, { topic, partitions }) => {
    tw.string(topic);
    tw.array(partitions, (pw, p) => {
      pw.int32(p.partition).int16(p.errorCode).int64(p.highWatermark);
      pw.int64(p.highWatermark); // last_stable_offset: no transactions, so everything is stable
      pw.int32(0); // aborted_transactions
      pw.int32(p.bytes);
      for (const batch of p.batches) pw.raw(batch);
    });
  });
  return w;
}

export const fetchApi: ApiDefinition = {
  key: 1,
  name: 'Fetch',
  minVersion: 4,
  maxVersion: 4,
  handle(body, _header, broker) {
    body.int32(); // replica_id
    const maxWaitMs = Math.max(0, body.int32());
    const minBytes = body.int32();
    const maxBytes = body.int32();
    body.int8(); // isolation_level: nothing is transactional, both levels see the same data
    const topics: TopicRequest[] = body.array((r) => ({
      topic: r.string(),
      partitions: r.array((p) => ({ partition: p.int32(), fetchOffset: p.int64(), maxBytes: p.int32() })),
    }));

    const first = readAll(broker, topics, maxBytes);
    if (first.total >= minBytes || first.errors || maxWaitMs === 0 || broker.stopped) return encode(first.results);

    return new Promise<Writer>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unsubscribe();
        broker.parked.delete(finish);
        resolve(encode(readAll(broker, topics, maxBytes).results));
      };
      const timer = setTimeout(finish, maxWaitMs);
      const keys = topics.flatMap(({ topic, partitions }) => partitions.map((p) => `${topic}/${p.partition}`));
      // Deferred to a microtask so a produce touching several partitions is seen whole.
      const unsubscribe = broker.topics.onData(keys, () => {
        queueMicrotask(() => {
          if (done) return;
          const now = readAll(broker, topics, maxBytes);
          if (now.total >= minBytes || now.errors) finish();
        });
      });
      broker.parked.add(finish);
    });
  },
};
