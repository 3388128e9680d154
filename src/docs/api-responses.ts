import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiResponse } from '@nestjs/swagger';
import { ID_RULE } from '../common/snowflake-id';
import { AppConfig } from '../config/app-config';
import { maxHeaderBytesFor, uriTooLong } from '../http/client-errors';
import { errorBody } from '../http/error-body';
import { bodyLimitFor, bodyTooLarge, unsupportedMediaType } from '../http/json-body';
import { unauthorized } from '../auth/api-token.hook';
import { redisUnavailable } from '../http/http-errors.filter';
import { rateLimited } from '../rate-limit/rate-limit';
import { ErrorDoc } from './api-schemas';

/** The examples show the answers of the default settings. */
const DEFAULTS = new AppConfig();

type Examples = Record<string, { summary: string; value: unknown }>;

/** 400 examples shared by the routes, by what they reject. */
export const badRequestExamples = {
  guildId: {
    summary: 'guildId is not an id',
    value: errorBody(400, `guildId ${ID_RULE} (got "abc")`, 'guildId'),
  },
  userIdsQuery: {
    summary: 'a userId in the query is not an id',
    value: errorBody(400, `userIds[1] ${ID_RULE} (got "x")`, 'userIds'),
  },
  userIdsEmpty: {
    summary: 'userIds is empty',
    value: errorBody(400, 'userIds must be an array of at least one id', 'userIds'),
  },
  userIdsMissing: {
    summary: 'userIds is missing (or there is no body)',
    value: errorBody(400, 'userIds is required (an array of ids)', 'userIds'),
  },
  userIdsNotArray: {
    summary: 'userIds is not an array',
    value: errorBody(400, 'userIds must be an array of ids', 'userIds'),
  },
  tooMany: {
    summary: 'more userIds than MAX_QUERY_USER_IDS',
    value: errorBody(
      400,
      `userIds may name at most ${DEFAULTS.MAX_QUERY_USER_IDS} users (got ${DEFAULTS.MAX_QUERY_USER_IDS + 1})`,
      'userIds',
    ),
  },
  bodyGuildId: {
    summary: 'guildId in the body is not an id',
    value: errorBody(400, `guildId ${ID_RULE} (got "0")`, 'guildId'),
  },
  malformed: {
    summary: 'the body is not JSON',
    value: errorBody(400, 'request body is not valid JSON: Array item expected but reached end of input at position 14', 'body'),
  },
} satisfies Examples;

/** The 400s of a JSON body holding a userIds list (the original routes: an empty list is fine). */
export const anyUserIdsBodyErrors = {
  missing: badRequestExamples.userIdsMissing,
  notArray: badRequestExamples.userIdsNotArray,
  tooMany: badRequestExamples.tooMany,
  malformed: badRequestExamples.malformed,
} satisfies Examples;

/** The 400s of a JSON body holding a userIds list of at least one id (our own POST route). */
export const userIdsBodyErrors = { ...anyUserIdsBodyErrors, empty: badRequestExamples.userIdsEmpty } satisfies Examples;

/** The 400s of the HTTP session route. */
export const sessionBodyErrors = {
  type: {
    summary: 'type is not CONNECT or DISCONNECT',
    value: errorBody(400, 'type must be one of CONNECT, DISCONNECT', 'type'),
  },
  sessionId: {
    summary: 'sessionId is missing',
    value: errorBody(400, 'sessionId is required', 'sessionId'),
  },
  userId: {
    summary: 'CONNECT without a userId',
    value: errorBody(400, 'userId is required (a decimal integer id)', 'userId'),
  },
  malformed: badRequestExamples.malformed,
} satisfies Examples;

const redisDown503 = {
  description: 'Redis is unreachable (or answered later than REDIS_COMMAND_TIMEOUT_MS); retry shortly',
  examples: {
    redisDown: {
      summary: 'Redis unreachable',
      value: redisUnavailable(),
    },
  },
};

const errorResponse = (status: number, description: string, examples: Examples) =>
  ApiResponse({ status, description, type: ErrorDoc, examples });

/**
 * The errors every API route may answer: 400 (with the route's own examples), 401 when API_TOKEN
 * is set, 429 past RATE_LIMIT_PER_MINUTE when it is set, 503 while Redis is unreachable; 413 and
 * 415 for routes with a body, 414 for those without (their ids are in the URL).
 */
export function ApiErrors(
  badRequests: Examples,
  options: { body?: boolean; unavailable?: { description: string; examples: Examples } } = {},
) {
  const decorators = [
    ApiBearerAuth(),
    errorResponse(400, 'A parameter or the body is invalid; `field` names it', badRequests),
    errorResponse(401, 'API_TOKEN is set and the request has no valid `Authorization: Bearer <token>`', {
      missing: {
        summary: 'no Authorization header',
        value: unauthorized(false),
      },
      invalid: { summary: 'wrong token', value: unauthorized(true) },
    }),
    errorResponse(
      429,
      'RATE_LIMIT_PER_MINUTE is set (it is off by default) and this client (its API token, or its IP without one) made more requests than that in a minute; see the Retry-After header (seconds)',
      {
        limited: {
          summary: 'rate limited',
          value: rateLimited(6000, 42),
        },
      },
    ),
    errorResponse(503, (options.unavailable ?? redisDown503).description, (options.unavailable ?? redisDown503).examples),
  ];
  if (options.body) {
    decorators.push(
      errorResponse(413, 'The body is larger than the limit (64 KiB, or 32 bytes per MAX_QUERY_USER_IDS if more)', {
        tooLarge: {
          summary: 'body too large',
          value: bodyTooLarge(bodyLimitFor(DEFAULTS)).getResponse(),
        },
      }),
      errorResponse(415, 'The body is not sent as JSON', {
        notJson: {
          summary: 'wrong Content-Type',
          value: unsupportedMediaType('text/plain').getResponse(),
        },
      }),
    );
  } else {
    decorators.push(
      errorResponse(
        414,
        'The URL is too long to read (the request line and headers may take MAX_QUERY_USER_IDS × 22 bytes + 8 KiB, at least 16 KiB): send long lists of userIds with POST /guilds/{guildId}/states/query',
        {
          tooLong: {
            summary: 'URL too long',
            value: uriTooLong(maxHeaderBytesFor(DEFAULTS)),
          },
        },
      ),
    );
  }
  return applyDecorators(...decorators);
}
