/** JoinGroup (key 11), v0-2. Parks until the join phase of the rebalance completes. */
import { ApiDefinition } from '../broker-context';
import { Writer } from '../protocol';

export const joinGroupApi: ApiDefinition = {
  key: 11,
  name: 'JoinGroup',
  minVersion: 0,
  maxVersion: 2,
  async handle(body, { apiVersion: v, clientId, clientHost }, broker) {
    const groupId = body.string();
    const sessionTimeoutMs = body.int32();
    const rebalanceTimeoutMs = v >= 1 ? body.int32() : sessionTimeoutMs;
    const memberId = body.string();
    const protocolType = body.string();
    const protocols = body.array((r) => ({ name: r.string(), metadata: Buffer.from(r.bytes()) }));

    const result = await broker.groups.join({
      groupId,
      memberId,
      clientId,
      clientHost,
      sessionTimeoutMs,
      rebalanceTimeoutMs,
      protocolType,
      protocols,
    });

    const w = new Writer();
    if (v >= 2) w.int32(0); // throttle_time_ms
    w.int16(result.errorCode).int32(result.generationId).string(result.protocolName);
    w.string(result.leaderId).string(result.memberId);
    w.array(result.members, (mw, m) => mw.string(m.memberId).bytes(m.metadata));
    return w;
  },
};
