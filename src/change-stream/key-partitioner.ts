import { ICustomPartitioner, PartitionerArgs, Partitioners } from 'kafkajs';

/**
 * kafkajs' DefaultPartitioner (Java's: murmur2 of the key, positive, modulo the partition count),
 * for ASCII keys without its per-message Buffer and 64-bit Long arithmetic: the change relay's
 * keys are ids, and that hash showed in its profile. Same partition for the same key as the
 * DefaultPartitioner (and the Java client); any other key goes to the DefaultPartitioner itself.
 */
export const keyPartitioner: ICustomPartitioner = () => {
  const fallback = Partitioners.DefaultPartitioner();
  return (args: PartitionerArgs) => {
    const { message, partitionMetadata } = args;
    const key = message.key;
    if (message.partition == null && typeof key === 'string' && isAscii(key)) return (murmur2(key) & 0x7fffffff) % partitionMetadata.length;
    return fallback(args);
  };
};

const M = 0x5bd1e995;

/** One byte per character in UTF-8: what murmur2 below hashes is then what Kafka's would. */
function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Kafka's murmur2 (Utils.murmur2, seed 0x9747b28c) of an ASCII string, in 32-bit arithmetic. */
export function murmur2(key: string): number {
  const length = key.length;
  let h = 0x9747b28c ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = key.charCodeAt(i4) | (key.charCodeAt(i4 + 1) << 8) | (key.charCodeAt(i4 + 2) << 16) | (key.charCodeAt(i4 + 3) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & ~3;
  switch (length % 4) {
    case 3:
      h ^= key.charCodeAt(tail + 2) << 16;
    // falls through
    case 2:
      h ^= key.charCodeAt(tail + 1) << 8;
    // falls through
    case 1:
      h ^= key.charCodeAt(tail);
      h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}
