import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiResponse } from '@nestjs/swagger';
import { ID_RULE } from '../common/snowflake-id';
import { ErrorDoc } from './api-schemas';

type Examples = Record<string, { summary: string; value: unknown }>;

/** 400 examples shared by the routes, by what they reject. */
export const badRequestExamples = {
  guildId: {
    summary: 'guildId is not an id',
    value: { statusCode: 400, error: 'Bad Request', message: `guildId ${ID_RULE} (got "abc")`, field: 'guildId' },
  },
  userIdsQuery: {
    summary: 'a userId in the query is not an id',
    value: { statusCode: 400, error: 'Bad Request', message: `userIds[1] ${ID_RULE} (got "x")`, field: 'userIds' },
  },
  userIdsEmpty: {
    summary: 'userIds is empty',
    value: { statusCode: 400, error: 'Bad Request', message: 'userIds must be an array of at least one id', field: 'userIds' },
  },
  userIdsMissing: {
    summary: 'userIds is missing (or there is no body)',
    value: { statusCode: 400, error: 'Bad Request', message: 'userIds is required (an array of ids)', field: 'userIds' },
  },
  userIdsNotArray: {
    summary: 'userIds is not an array',
    value: { statusCode: 400, error: 'Bad Request', message: 'userIds must be an array of ids', field: 'userIds' },
  },
  tooMany: {
    summary: 'more userIds than MAX_QUERY_USER_IDS',
    value: { statusCode: 400, error: 'Bad Request', message: 'userIds may name at most 100000 users (got 100001)', field: 'userIds' },
  },
  bodyGuildId: {
    summary: 'guildId in the body is not an id',
    value: { statusCode: 400, error: 'Bad Request', message: `guildId ${ID_RULE} (got "0")`, field: 'guildId' },
  },
  malformed: {
    summary: 'the body is not JSON',
    value: {
      statusCode: 400,
      error: 'Bad Request',
      message: 'request body is not valid JSON: Array item expected but reached end of input at position 14',
      field: 'body',
    },
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
    value: { statusCode: 400, error: 'Bad Request', message: 'type must be one of CONNECT, DISCONNECT', field: 'type' },
  },
  sessionId: {
    summary: 'sessionId is missing',
    value: { statusCode: 400, error: 'Bad Request', message: 'sessionId is required', field: 'sessionId' },
  },
  userId: {
    summary: 'CONNECT without a userId',
    value: { statusCode: 400, error: 'Bad Request', message: 'userId is required (a decimal integer id)', field: 'userId' },
  },
  malformed: badRequestExamples.malformed,
} satisfies Examples;

const redisDown503 = {
  description: 'Redis is unreachable (or answered later than REDIS_COMMAND_TIMEOUT_MS); retry shortly',
  examples: {
    redisDown: {
      summary: 'Redis unreachable',
      value: { statusCode: 503, error: 'Service Unavailable', message: 'state store (Redis) is unreachable; retry shortly' },
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
        value: { statusCode: 401, error: 'Unauthorized', message: 'missing Authorization: Bearer <token> header' },
      },
      invalid: { summary: 'wrong token', value: { statusCode: 401, error: 'Unauthorized', message: 'invalid bearer token' } },
    }),
    errorResponse(
      429,
      'RATE_LIMIT_PER_MINUTE is set (it is off by default) and this client (its API token, or its IP without one) made more requests than that in a minute; see the Retry-After header (seconds)',
      {
        limited: {
          summary: 'rate limited',
          value: { statusCode: 429, error: 'Too Many Requests', message: 'rate limit of 6000 requests per minute exceeded; retry in 42 s' },
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
          value: { statusCode: 413, error: 'Payload Too Large', message: 'request body exceeds 65536 bytes', field: 'body' },
        },
      }),
      errorResponse(415, 'The body is not sent as JSON', {
        notJson: {
          summary: 'wrong Content-Type',
          value: {
            statusCode: 415,
            error: 'Unsupported Media Type',
            message: 'request body must be JSON sent with Content-Type: application/json (got text/plain)',
            field: 'body',
          },
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
            value: {
              statusCode: 414,
              error: 'URI Too Long',
              message:
                'URL too long: the request line and headers may take at most 30192 bytes; to name many userIds, send them with POST /guilds/{guildId}/states/query and a JSON body {"userIds":[...]}',
            },
          },
        },
      ),
    );
  }
  return applyDecorators(...decorators);
}
