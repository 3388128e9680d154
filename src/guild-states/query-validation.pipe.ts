import { ArgumentMetadata, Type, ValidationPipe } from '@nestjs/common';
import { canonicalId } from '../common/snowflake-id';
import { CommunityUserInfoQuery, DirectUserInfoQuery, UserIdsQuery } from './guild-states.dto';

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** UserIdsQuery's rules: an own `userIds` array of 1 or more ids. */
const hasUserIds = (body: Record<string, unknown>): boolean => {
  if (!Object.hasOwn(body, 'userIds')) return false;
  const ids = body.userIds;
  if (!Array.isArray(ids) || ids.length === 0) return false;
  for (const id of ids) if (canonicalId(id) === undefined) return false;
  return true;
};

/** Which bodies each DTO certainly accepts. Each must accept nothing the DTO's decorators refuse. */
export const VALID_BODY = new Map<Type<unknown>, (body: Record<string, unknown>) => boolean>([
  [UserIdsQuery, hasUserIds],
  [DirectUserInfoQuery, hasUserIds],
  [CommunityUserInfoQuery, (body) => hasUserIds(body) && Object.hasOwn(body, 'guildId') && canonicalId(body.guildId) !== undefined],
]);

/**
 * Nest's ValidationPipe, with fast paths for the query routes' string parameters and for the query bodies: a body that plainly meets its DTO's
 * rules (the common case) is handed to the handler as it came, with no class instance built and no
 * class-validator run, which took ~10 % of the CPU of a POST query with 100 ids. Anything else
 * goes through ValidationPipe as before, which names what is wrong. The DTOs and their decorators
 * stay the one description of a valid body (and of the API docs); test/unit/query-validation.test.ts
 * checks that the fast path accepts nothing they refuse.
 */
export class QueryValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    // A path or query parameter typed string or string[]: ValidationPipe's own answer (transformPrimitive), without its checks.
    if ((metadata.type === 'param' || metadata.type === 'query') && (metadata.metatype === String || metadata.metatype === Array)) {
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- String(value), as ValidationPipe.transformPrimitive does
      return metadata.data && metadata.metatype === String && value !== undefined ? String(value) : value;
    }
    if (metadata.type === 'body' && metadata.metatype !== undefined && isPlainObject(value)) {
      const valid = VALID_BODY.get(metadata.metatype);
      if (valid !== undefined && valid(value)) return value;
    }
    return super.transform(value, metadata);
  }
}
