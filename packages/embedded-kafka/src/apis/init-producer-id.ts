/**
 * InitProducerId (key 22), v0-1: hands out producer ids so kafkajs's idempotent
 * producer works. Sequence numbers are not checked (single node, no retries
 * across leaders). Transactional ids are refused: there is no transaction coordinator.
 */
import { ApiDefinition } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { Writer } from '../protocol';

export const initProducerIdApi: ApiDefinition = {
  key: 22,
  name: 'InitProducerId',
  minVersion: 0,
  maxVersion: 1,
  handle(body, _header, broker) {
    const transactionalId = body.nullableString();
    body.int32(); // transaction_timeout_ms
    const w = new Writer().int32(0); // throttle_time_ms
    if (transactionalId !== null) {
      broker.logger.warn(`embedded-kafka: transactions are not supported (transactional id '${transactionalId}')`);
      return w.int16(ErrorCode.INVALID_REQUEST).int64(-1).int16(-1);
    }
    return w.int16(ErrorCode.NONE).int64(broker.nextProducerId()).int16(0);
  },
};
