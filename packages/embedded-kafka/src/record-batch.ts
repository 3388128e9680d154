/**
 * RecordBatch v2 handling. The broker never decodes individual records: it
 * keeps the producer's bytes and only rewrites baseOffset and
 * partitionLeaderEpoch, which sit before the CRC-covered range.
 *
 * Layout (offsets in bytes):
 *   0  baseOffset int64          8  batchLength int32 (bytes after this field)
 *   12 partitionLeaderEpoch int32 16 magic int8 (=2)   17 crc uint32
 *   21 attributes int16          23 lastOffsetDelta int32
 *   27 firstTimestamp int64      35 maxTimestamp int64
 *   43 producerId int64          51 producerEpoch int16  53 baseSequence int32
 *   57 recordCount int32         61 records...
 */
import { crc32c } from './crc32c';

export const BATCH_HEADER_SIZE = 61;
const LOG_OVERHEAD = 12; // baseOffset + batchLength

export interface BatchInfo {
  /** The batch bytes (a copy owned by the log). */
  bytes: Buffer;
  lastOffsetDelta: number;
  recordCount: number;
  maxTimestamp: number;
}

export class InvalidBatchError extends Error {
  constructor(
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Splits a produce request's record set into batches, validating each one.
 * Throws InvalidBatchError (CORRUPT_MESSAGE / UNSUPPORTED_FOR_MESSAGE_FORMAT).
 */
export function splitBatches(records: Buffer): BatchInfo[] {
  const batches: BatchInfo[] = [];
  let pos = 0;
  while (pos < records.length) {
    if (records.length - pos < BATCH_HEADER_SIZE) {
      throw new InvalidBatchError(2, 'record set ends with a truncated batch header');
    }
    const batchLength = records.readInt32BE(pos + 8);
    const size = LOG_OVERHEAD + batchLength;
    if (batchLength < BATCH_HEADER_SIZE - LOG_OVERHEAD || pos + size > records.length) {
      throw new InvalidBatchError(2, `batch length ${batchLength} does not fit the record set`);
    }
    const magic = records.readInt8(pos + 16);
    if (magic !== 2) {
      throw new InvalidBatchError(43, `message format v${magic} is not supported (only RecordBatch v2)`);
    }
    const expectedCrc = records.readUInt32BE(pos + 17);
    const actualCrc = crc32c(records, pos + 21, pos + size);
    if (expectedCrc !== actualCrc) {
      throw new InvalidBatchError(2, `batch CRC mismatch (header ${expectedCrc}, computed ${actualCrc})`);
    }
    const lastOffsetDelta = records.readInt32BE(pos + 23);
    const recordCount = records.readInt32BE(pos + 57);
    if (lastOffsetDelta < 0 || recordCount < 0) {
      throw new InvalidBatchError(2, 'negative lastOffsetDelta or record count');
    }
    // Copy so the stored batch does not pin the whole request frame in memory.
    const bytes = Buffer.allocUnsafe(size);
    records.copy(bytes, 0, pos, pos + size);
    batches.push({
      bytes,
      lastOffsetDelta,
      recordCount,
      maxTimestamp: Number(records.readBigInt64BE(pos + 35)),
    });
    pos += size;
  }
  return batches;
}

/** Assigns the batch its place in the log. */
export function stampBatch(bytes: Buffer, baseOffset: number, leaderEpoch: number): void {
  bytes.writeBigInt64BE(BigInt(baseOffset), 0);
  bytes.writeInt32BE(leaderEpoch, 12);
}
