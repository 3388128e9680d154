/**
 * RecordBatch v2 handling. The broker keeps the producer's bytes and only rewrites baseOffset and
 * partitionLeaderEpoch, which sit before the CRC-covered range; it reads individual records only to
 * answer ListOffsets by timestamp (recordTimestamps).
 *
 * Layout (offsets in bytes):
 *   0  baseOffset int64          8  batchLength int32 (bytes after this field)
 *   12 partitionLeaderEpoch int32 16 magic int8 (=2)   17 crc uint32
 *   21 attributes int16          23 lastOffsetDelta int32
 *   27 firstTimestamp int64      35 maxTimestamp int64
 *   43 producerId int64          51 producerEpoch int16  53 baseSequence int32
 *   57 recordCount int32         61 records...
 */
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
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

/** Reads a zigzag varint (records use them for lengths and deltas). */
function readVarint(buf: Buffer, pos: number): [value: number, next: number] {
  let raw = 0;
  let shift = 0;
  let byte: number;
  do {
    byte = buf[pos++];
    raw += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2, pos];
}

/**
 * Each record's offset and timestamp, in order, or undefined when the batch's compression cannot be
 * read here (snappy, lz4: Node has no codec for them). Records: length, attributes, timestampDelta,
 * offsetDelta, then key, value and headers, which are skipped by the length.
 */
export function recordTimestamps(bytes: Buffer): { offset: number; timestamp: number }[] | undefined {
  const baseOffset = Number(bytes.readBigInt64BE(0));
  const firstTimestamp = Number(bytes.readBigInt64BE(27));
  const recordCount = bytes.readInt32BE(57);
  const compression = bytes.readInt16BE(21) & 0x07;
  const body = bytes.subarray(BATCH_HEADER_SIZE);
  let records: Buffer;
  if (compression === 0) records = body;
  else if (compression === 1) records = gunzipSync(body);
  else if (compression === 4) records = zstdDecompressSync(body);
  else return undefined;
  const out: { offset: number; timestamp: number }[] = [];
  let pos = 0;
  for (let i = 0; i < recordCount && pos < records.length; i++) {
    const [length, start] = readVarint(records, pos);
    const [timestampDelta, afterTimestamp] = readVarint(records, start + 1); // after the attributes byte
    const [offsetDelta] = readVarint(records, afterTimestamp);
    out.push({ offset: baseOffset + offsetDelta, timestamp: firstTimestamp + timestampDelta });
    pos = start + length;
  }
  return out;
}
