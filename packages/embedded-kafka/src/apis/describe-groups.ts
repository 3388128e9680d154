/** DescribeGroups (key 15), v0-1. */
import { ApiDefinition } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { Writer } from '../protocol';

export const describeGroupsApi: ApiDefinition = {
  key: 15,
  name: 'DescribeGroups',
  minVersion: 0,
  maxVersion: 1,
  handle(body, { apiVersion: v }, broker) {
    const groupIds = body.array((r) => r.string());
    const w = new Writer();
    if (v >= 1) w.int32(0); // throttle_time_ms
    w.array(groupIds, (gw, id) => {
      const g = broker.groups.describe(id);
      gw.int16(ErrorCode.NONE).string(g.groupId).string(g.state).string(g.protocolType).string(g.protocolName);
      gw.array(g.members, (mw, m) => {
        mw.string(m.memberId).string(m.clientId).string(m.clientHost).bytes(m.metadata).bytes(m.assignment);
      });
    });
    return w;
  },
};
