/**
 * Reads the two value shapes the original (Java/Spring) state server left in Redis hashes: Spring's
 * RedisTemplate wrote hash fields and values with JdkSerializationRedisSerializer, i.e. Java object
 * serialization (ObjectOutputStream.writeObject). USER:STATE holds java.lang.String fields and
 * values; GUILD:<id> holds String fields and java.util.HashSet<String> values.
 *
 * Exactly those shapes are read, strictly (Java Object Serialization Specification, chapter 6):
 * anything else - another class, a HashSet holding something but Strings, trailing bytes - is
 * undefined, and the caller leaves it as foreign. Hand-written rather than a library: the one npm
 * package for the format (java-deserialization 0.1.0) is unmaintained and reads far more than we
 * want to accept. test/unit/jdk-serialized.test.ts checks it on bytes written by a real JVM
 * (test/fixtures/original-redis).
 */

const STREAM_MAGIC = 0xaced;
const STREAM_VERSION = 5;
const TC_NULL = 0x70;
const TC_REFERENCE = 0x71;
const TC_CLASSDESC = 0x72;
const TC_OBJECT = 0x73;
const TC_STRING = 0x74;
const TC_BLOCKDATA = 0x77;
const TC_ENDBLOCKDATA = 0x78;
const TC_LONGSTRING = 0x7c;
const BASE_HANDLE = 0x7e0000;
const HASH_SET = 'java.util.HashSet';
/** HashSet's serialVersionUID (-5024744406713321676L), as written in its class descriptor. */
const HASH_SET_UID = Buffer.from('ba44859596b8b734', 'hex');
const SC_SERIALIZABLE_WITH_WRITE_METHOD = 0x03;

/** Whether bytes start as a Java serialization stream (0xACED0005): cheap test before decoding. */
export function isJdkSerialized(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.readUInt16BE(0) === STREAM_MAGIC && bytes.readUInt16BE(2) === STREAM_VERSION;
}

/** A serialized java.lang.String, or undefined if the bytes are anything else. */
export function decodeJdkString(bytes: Buffer): string | undefined {
  return decodeWhole(bytes, (reader) => reader.string());
}

/** A serialized java.util.HashSet<String> (its elements in the stream's order), or undefined if the bytes are anything else. */
export function decodeJdkStringSet(bytes: Buffer): string[] | undefined {
  return decodeWhole(bytes, (reader) => reader.stringSet());
}

function decodeWhole<T>(bytes: Buffer, read: (reader: StreamReader) => T): T | undefined {
  if (!isJdkSerialized(bytes)) return undefined;
  try {
    const reader = new StreamReader(bytes);
    const value = read(reader);
    return reader.atEnd() ? value : undefined;
  } catch {
    return undefined; // truncated or another shape
  }
}

class NotThisShape extends Error {}

class StreamReader {
  private at = 4;
  /** Objects in the order they got handles (0x7E0000 + index): a String may be written once and referenced after. */
  private readonly handles: unknown[] = [];

  constructor(private readonly bytes: Buffer) {}

  atEnd(): boolean {
    return this.at === this.bytes.length;
  }

  string(): string {
    const tag = this.u1();
    if (tag === TC_REFERENCE) {
      const value = this.handles[this.u4() - BASE_HANDLE];
      if (typeof value !== 'string') throw new NotThisShape();
      return value;
    }
    if (tag !== TC_STRING && tag !== TC_LONGSTRING) throw new NotThisShape();
    const length = tag === TC_STRING ? this.u2() : Number(this.take(8).readBigUInt64BE());
    const value = modifiedUtf8(this.take(length));
    this.handles.push(value);
    return value;
  }

  /**
   * TC_OBJECT, HashSet's class descriptor (no serializable fields, a writeObject method, no
   * serializable superclass), then what HashSet.writeObject writes: a block of capacity (int),
   * load factor (float) and size (int), then `size` Strings, then the end of its block data.
   */
  stringSet(): string[] {
    if (this.u1() !== TC_OBJECT || this.u1() !== TC_CLASSDESC) throw new NotThisShape();
    if (modifiedUtf8(this.take(this.u2())) !== HASH_SET || !this.take(8).equals(HASH_SET_UID)) throw new NotThisShape();
    this.handles.push(HASH_SET);
    if (this.u1() !== SC_SERIALIZABLE_WITH_WRITE_METHOD || this.u2() !== 0) throw new NotThisShape();
    if (this.u1() !== TC_ENDBLOCKDATA || this.u1() !== TC_NULL) throw new NotThisShape(); // no annotations, no superclass
    this.handles.push(null); // the set itself
    if (this.u1() !== TC_BLOCKDATA || this.u1() !== 12) throw new NotThisShape();
    this.take(8); // capacity, load factor
    const size = this.u4();
    const members: string[] = [];
    for (let i = 0; i < size; i++) members.push(this.string());
    if (this.u1() !== TC_ENDBLOCKDATA) throw new NotThisShape();
    return members;
  }

  private u1(): number {
    return this.take(1)[0];
  }

  private u2(): number {
    return this.take(2).readUInt16BE(0);
  }

  private u4(): number {
    return this.take(4).readUInt32BE(0);
  }

  private take(n: number): Buffer {
    if (this.at + n > this.bytes.length) throw new NotThisShape();
    const slice = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return slice;
  }
}

/** Java's modified UTF-8 (DataInput.readUTF): NUL as C0 80, supplementary characters as two 3-byte surrogates. */
function modifiedUtf8(bytes: Buffer): string {
  const units: number[] = [];
  for (let i = 0; i < bytes.length;) {
    const a = bytes[i];
    if (a < 0x80) {
      units.push(a);
      i += 1;
    } else if ((a & 0xe0) === 0xc0 && i + 1 < bytes.length && (bytes[i + 1] & 0xc0) === 0x80) {
      units.push(((a & 0x1f) << 6) | (bytes[i + 1] & 0x3f));
      i += 2;
    } else if ((a & 0xf0) === 0xe0 && i + 2 < bytes.length && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80) {
      units.push(((a & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f));
      i += 3;
    } else {
      throw new NotThisShape();
    }
  }
  let text = '';
  for (let i = 0; i < units.length; i += 4096) text += String.fromCharCode(...units.slice(i, i + 4096));
  return text;
}
