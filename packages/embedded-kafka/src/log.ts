/**
 * In-memory storage for one partition: a list of record batches indexed by
 * base offset. Fetch finds its starting batch by binary search, so serving a
 * fetch costs O(log n + batches returned) regardless of the log's size.
 */
import { BatchInfo, recordTimestamps, stampBatch } from './record-batch';

export interface RetentionLimits {
  /** Drop the oldest batches once the partition holds more records than this. */
  maxRecords: number;
  /** Drop the oldest batches once the partition holds more bytes than this. */
  maxBytes: number;
}

interface StoredBatch {
  baseOffset: number;
  /** Offset after the batch's last record. */
  nextOffset: number;
  recordCount: number;
  maxTimestamp: number;
  bytes: Buffer;
}

export class PartitionLog {
  /** Batches[head..] are live; the prefix is dropped lazily to keep removal O(1). */
  private batches: StoredBatch[] = [];
  private head = 0;
  private records = 0;
  private size = 0;
  logStartOffset = 0;
  highWatermark = 0;

  constructor(private readonly limits: RetentionLimits) {}

  /** Appends validated batches; returns the base offset of the first one. */
  append(batches: BatchInfo[]): number {
    const first = this.highWatermark;
    for (const batch of batches) {
      const baseOffset = this.highWatermark;
      stampBatch(batch.bytes, baseOffset, 0);
      const nextOffset = baseOffset + batch.lastOffsetDelta + 1;
      this.batches.push({
        baseOffset,
        nextOffset,
        recordCount: batch.recordCount,
        maxTimestamp: batch.maxTimestamp,
        bytes: batch.bytes,
      });
      this.highWatermark = nextOffset;
      this.records += batch.recordCount;
      this.size += batch.bytes.length;
    }
    this.enforceRetention();
    return first;
  }

  /**
   * Like Kafka's segment deletion: whole batches go, oldest first, and the log
   * start offset moves to the first remaining batch. The newest batch always
   * stays so the high watermark stays readable.
   */
  private enforceRetention(): void {
    const { maxRecords, maxBytes } = this.limits;
    while (this.batches.length - this.head > 1 && (this.records > maxRecords || this.size > maxBytes)) {
      const dropped = this.batches[this.head++];
      this.records -= dropped.recordCount;
      this.size -= dropped.bytes.length;
      this.logStartOffset = this.batches[this.head].baseOffset;
    }
    if (this.head > 1024 && this.head * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.head);
      this.head = 0;
    }
  }

  /** Index of the live batch containing offset (or the first one after it), or -1. */
  private indexOf(offset: number): number {
    let lo = this.head;
    let hi = this.batches.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.batches[mid].nextOffset > offset) {
        found = mid;
        hi = mid - 1;
      } else {
        lo = mid + 1;
      }
    }
    return found;
  }

  /**
   * Whole batches starting with the one that contains fetchOffset. At least one
   * batch is returned when data exists (as Kafka does, so a batch bigger than
   * maxBytes cannot stall a consumer); after that stop before exceeding maxBytes.
   */
  read(fetchOffset: number, maxBytes: number): { batches: Buffer[]; bytes: number } {
    const out: Buffer[] = [];
    let bytes = 0;
    let i = this.indexOf(fetchOffset);
    if (i < 0) return { batches: out, bytes };
    for (; i < this.batches.length; i++) {
      const b = this.batches[i].bytes;
      if (out.length > 0 && bytes + b.length > maxBytes) break;
      out.push(b);
      bytes += b.length;
    }
    return { batches: out, bytes };
  }

  /**
   * ListOffsets by timestamp, as Kafka answers it: in the first batch whose max timestamp reaches ts,
   * the first record at or after ts and at or after the log start offset, with its timestamp; the scan
   * moves on to the next batch only when that batch holds no such record. Undefined when no record
   * reaches ts (Kafka then answers offset -1). A batch whose compression cannot be read here (snappy,
   * lz4) answers its first offset: never later than Kafka's answer.
   */
  offsetForTimestamp(ts: number): { offset: number; timestamp: number } | undefined {
    for (let i = this.head; i < this.batches.length; i++) {
      const b = this.batches[i];
      if (b.maxTimestamp < ts || b.nextOffset <= this.logStartOffset) continue;
      const records = recordTimestamps(b.bytes);
      if (!records) return { offset: Math.max(b.baseOffset, this.logStartOffset), timestamp: b.maxTimestamp };
      const found = records.find((r) => r.timestamp >= ts && r.offset >= this.logStartOffset);
      if (found) return found;
    }
    return undefined;
  }

  get stats(): { records: number; bytes: number; batches: number } {
    return { records: this.records, bytes: this.size, batches: this.batches.length - this.head };
  }
}
