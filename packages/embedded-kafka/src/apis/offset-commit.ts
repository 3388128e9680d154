/** OffsetCommit (key 8), v0-2. Offsets live in memory with the group; retention_time is ignored. */
import { ApiDefinition } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { Writer } from '../protocol';

export const offsetCommitApi: ApiDefinition = {
  key: 8,
  name: 'OffsetCommit',
  minVersion: 0,
  maxVersion: 2,
  handle(body, { apiVersion: v }, broker) {
    const groupId = body.string();
    const generationId = v >= 1 ? body.int32() : -1;
    const memberId = v >= 1 ? body.string() : '';
    if (v >= 2) body.int64(); // retention_time_ms
    const topics = body.array((r) => ({
      name: r.string(),
      partitions: r.array((p) => {
        const partition = p.int32();
        const offset = p.int64();
        if (v === 1) p.int64(); // commit_timestamp
        return { partition, offset, metadata: p.nullableString() };
      }),
    }));

    const offsets = topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, ...p })));
    const errorCode = broker.groups.commitOffsets(groupId, generationId, memberId, offsets);

    const w = new Writer();
    w.array(topics, (tw, t) => {
      tw.string(t.name);
      tw.array(t.partitions, (pw, p) => {
        const known = broker.topics.partition(t.name, p.partition) !== undefined;
        pw.int32(p.partition).int16(
          errorCode !== ErrorCode.NONE ? errorCode : known ? ErrorCode.NONE : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        );
      });
    });
    return w;
  },
};
