import { Injectable, PipeTransform } from '@nestjs/common';
import { badRequest } from '../http/bad-request';
import { abbreviate, canonicalId, ID_RULE } from '../ingest/snowflake-id';

/** A path parameter that must be a snowflake id, e.g. :guildId. */
@Injectable()
export class SnowflakeIdPipe implements PipeTransform<string, string> {
  constructor(private readonly field: string) {}
  transform(value: string): string {
    const id = canonicalId(value);
    if (id === undefined) throw badRequest(this.field, `${this.field} ${ID_RULE} (got ${abbreviate(value)})`);
    return id;
  }
}

/** ?userIds=1,2,3 -> ['1','2','3']; absent -> undefined; anything else wrong -> 400 naming it. */
@Injectable()
export class UserIdListPipe implements PipeTransform<unknown, string[] | undefined> {
  transform(value: unknown): string[] | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw badRequest('userIds', 'userIds must be given once, as a comma-separated list of ids');
    const parts = value.split(',').map((s) => s.trim());
    return parts.map((part, i) => {
      const id = canonicalId(part);
      if (id === undefined) throw badRequest('userIds', `userIds[${i}] ${ID_RULE} (got ${abbreviate(part)})`);
      return id;
    });
  }
}
