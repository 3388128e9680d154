/**
 * ApiVersions (key 18), v0-2. Clients that open with a newer (flexible) version,
 * like librdkafka's v3, get UNSUPPORTED_VERSION in the v0 layout plus the list,
 * and retry with a version from it — this is how Kafka itself answers.
 */
import { ApiDefinition } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { Writer } from '../protocol';

export function encodeApiVersions(apis: readonly ApiDefinition[], version: number, errorCode: number): Writer {
  const w = new Writer();
  w.int16(errorCode);
  w.array(apis, (aw, api) => aw.int16(api.key).int16(api.minVersion).int16(api.maxVersion));
  if (version >= 1) w.int32(0); // throttle_time_ms
  return w;
}

export function apiVersionsApi(allApis: () => readonly ApiDefinition[]): ApiDefinition {
  return {
    key: 18,
    name: 'ApiVersions',
    minVersion: 0,
    maxVersion: 2,
    handle(_body, { apiVersion }, _broker) {
      return encodeApiVersions(allApis(), apiVersion, ErrorCode.NONE);
    },
  };
}
