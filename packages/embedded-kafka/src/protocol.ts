/**
 * Primitive readers/writers for the (non-flexible) Kafka wire format.
 *
 * Everything is big-endian. Strings are INT16-length prefixed (-1 = null),
 * bytes and arrays are INT32-length prefixed (-1 = null). INT64 values are
 * handled as JS numbers: offsets in an in-memory broker never get near 2^53.
 */

/** Thrown when a request body is shorter than its schema says; the connection is closed. */
export class MalformedRequestError extends Error {}

export class Reader {
  offset = 0;

  constructor(
    readonly buffer: Buffer,
    start = 0,
  ) {
    this.offset = start;
  }

  private need(n: number): void {
    if (this.offset + n > this.buffer.length) {
      throw new MalformedRequestError(`request truncated: need ${n} bytes at ${this.offset}/${this.buffer.length}`);
    }
  }

  remaining(): number {
    return this.buffer.length - this.offset;
  }

  int8(): number {
    this.need(1);
    return this.buffer.readInt8(this.offset++);
  }

  bool(): boolean {
    return this.int8() !== 0;
  }

  int16(): number {
    this.need(2);
    const v = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  int64(): number {
    this.need(8);
    const v = Number(this.buffer.readBigInt64BE(this.offset));
    this.offset += 8;
    return v;
  }

  nullableString(): string | null {
    const len = this.int16();
    if (len < 0) return null;
    this.need(len);
    const s = this.buffer.toString('utf8', this.offset, this.offset + len);
    this.offset += len;
    return s;
  }

  string(): string {
    return this.nullableString() ?? '';
  }

  /** Returns a view into the request frame (no copy). */
  nullableBytes(): Buffer | null {
    const len = this.int32();
    if (len < 0) return null;
    this.need(len);
    const b = this.buffer.subarray(this.offset, this.offset + len);
    this.offset += len;
    return b;
  }

  bytes(): Buffer {
    return this.nullableBytes() ?? Buffer.alloc(0);
  }

  nullableArray<T>(readItem: (r: Reader) => T): T[] | null {
    const len = this.int32();
    if (len < 0) return null;
    // Each item takes at least one byte: a huge count in a small frame is garbage.
    if (len > this.remaining()) throw new MalformedRequestError(`array length ${len} exceeds frame`);
    const out = new Array<T>(len);
    for (let i = 0; i < len; i++) out[i] = readItem(this);
    return out;
  }

  array<T>(readItem: (r: Reader) => T): T[] {
    return this.nullableArray(readItem) ?? [];
  }
}

/**
 * Builds a response as a list of chunks so large record sets (fetch) are sent
 * by reference instead of being copied into one big buffer.
 */
export class Writer {
  private chunks: Buffer[] = [];
  private current: Buffer;
  private pos = 0;
  private total = 0;

  constructor(initialSize = 256) {
    this.current = Buffer.allocUnsafe(initialSize);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.current.length) return;
    this.flushCurrent();
    this.current = Buffer.allocUnsafe(Math.max(n, 1024));
  }

  private flushCurrent(): void {
    if (this.pos > 0) {
      this.chunks.push(this.current.subarray(0, this.pos));
      this.current = this.current.subarray(this.pos);
      this.pos = 0;
    }
  }

  get length(): number {
    return this.total;
  }

  int8(v: number): this {
    this.ensure(1);
    this.current.writeInt8(v, this.pos);
    this.pos += 1;
    this.total += 1;
    return this;
  }

  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }

  int16(v: number): this {
    this.ensure(2);
    this.current.writeInt16BE(v, this.pos);
    this.pos += 2;
    this.total += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.current.writeInt32BE(v, this.pos);
    this.pos += 4;
    this.total += 4;
    return this;
  }

  int64(v: number): this {
    this.ensure(8);
    this.current.writeBigInt64BE(BigInt(v), this.pos);
    this.pos += 8;
    this.total += 8;
    return this;
  }

  nullableString(s: string | null): this {
    if (s === null) return this.int16(-1);
    const len = Buffer.byteLength(s);
    this.int16(len);
    this.ensure(len);
    this.current.write(s, this.pos, 'utf8');
    this.pos += len;
    this.total += len;
    return this;
  }

  string(s: string): this {
    return this.nullableString(s);
  }

  nullableBytes(b: Buffer | null): this {
    if (b === null) return this.int32(-1);
    this.int32(b.length);
    return this.raw(b);
  }

  bytes(b: Buffer): this {
    return this.nullableBytes(b);
  }

  /** Appends bytes without a length prefix, by reference. */
  raw(b: Buffer): this {
    if (b.length === 0) return this;
    if (b.length <= 64) {
      this.ensure(b.length);
      b.copy(this.current, this.pos);
      this.pos += b.length;
    } else {
      this.flushCurrent();
      this.chunks.push(b);
    }
    this.total += b.length;
    return this;
  }

  array<T>(items: readonly T[], writeItem: (w: this, item: T) => void): this {
    this.int32(items.length);
    for (const item of items) writeItem(this, item);
    return this;
  }

  nullableArray<T>(items: readonly T[] | null, writeItem: (w: this, item: T) => void): this {
    if (items === null) return this.int32(-1);
    return this.array(items, writeItem);
  }

  /** The chunks making up the content so far. */
  toChunks(): Buffer[] {
    this.flushCurrent();
    return this.chunks;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.toChunks(), this.total);
  }
}
