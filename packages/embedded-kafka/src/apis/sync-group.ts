/** SyncGroup (key 14), v0. Followers park until the leader sends the assignment. */
import { ApiDefinition } from '../broker-context';
import { Writer } from '../protocol';

export const syncGroupApi: ApiDefinition = {
  key: 14,
  name: 'SyncGroup',
  minVersion: 0,
  maxVersion: 0,
  async handle(body, _header, broker) {
    const groupId = body.string();
    const generationId = body.int32();
    const memberId = body.string();
    const assignments = body.array((r) => ({ memberId: r.string(), assignment: r.bytes() }));
    const result = await broker.groups.sync(groupId, generationId, memberId, assignments);
    return new Writer().int16(result.errorCode).bytes(result.assignment);
  },
};
