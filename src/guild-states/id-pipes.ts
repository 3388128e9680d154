import { Injectable, PipeTransform } from '@nestjs/common';
import { badRequest } from '../http/bad-request';
import { abbreviate, canonicalId, canonicalIdList, ID_RULE } from '../common/snowflake-id';

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
    // The usual list: every id as canonicalId takes it, checked in one pass.
    const canonical = canonicalIdList(value);
    if (canonical !== undefined) return canonical;
    const ids = value.split(',');
    for (let i = 0; i < ids.length; i++) {
      // canonicalId accepts no blanks, so an id it takes as written needs no trimming.
      if (canonicalId(ids[i]) !== undefined) continue;
      const part = ids[i].trim();
      if (canonicalId(part) === undefined) throw badRequest('userIds', `userIds[${i}] ${ID_RULE} (got ${abbreviate(part)})`);
      ids[i] = part;
    }
    return ids;
  }
}

/** ?limit= of a whole-guild page: an integer 1 to MAX_PAGE; absent -> undefined. */
export const MAX_PAGE = 10000;
@Injectable()
export class PageLimitPipe implements PipeTransform<unknown, number | undefined> {
  transform(value: unknown): number | undefined {
    if (value === undefined) return undefined;
    // The global ValidationPipe may have turned the text into a number already (the parameter is typed number).
    const text = typeof value === 'number' ? String(value) : value;
    if (typeof text !== 'string' || !/^[1-9][0-9]{0,4}$/.test(text) || Number(text) > MAX_PAGE) {
      throw badRequest('limit', `limit must be an integer from 1 to ${MAX_PAGE} (got ${abbreviate(text)})`);
    }
    return Number(text);
  }
}

/** ?cursor= of a whole-guild page: the nextCursor of the page before. */
@Injectable()
export class PageCursorPipe implements PipeTransform<unknown, string | undefined> {
  transform(value: unknown): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !/^[0-9]{1,20}$/.test(value)) {
      throw badRequest('cursor', `cursor must be the nextCursor of a previous answer, a decimal number (got ${abbreviate(value)})`);
    }
    return value;
  }
}
