import 'reflect-metadata';
import { BadRequestException, Type, ValidationPipe } from '@nestjs/common';
import fc from 'fast-check';
import { CommunityUserInfoQuery, DirectUserInfoQuery, UserIdsQuery } from '../../src/guild-states/guild-states.dto';
import { QueryValidationPipe, VALID_BODY } from '../../src/guild-states/query-validation.pipe';
import { validationBadRequest } from '../../src/http/bad-request';
import { parseJsonKeepingNumbersAsText } from '../../src/common/lossless-json';

const options = { transform: true, forbidUnknownValues: false, stopAtFirstError: true, exceptionFactory: validationBadRequest };
const classValidator = new ValidationPipe(options);
const pipe = new QueryValidationPipe(options);
const DTOS: Type<unknown>[] = [UserIdsQuery, DirectUserInfoQuery, CommunityUserInfoQuery];

/** What the DTO's decorators say of a body: undefined when valid, else the 400's message. */
async function verdict(dto: Type<unknown>, body: unknown): Promise<string | undefined> {
  try {
    await classValidator.transform(body, { type: 'body', metatype: dto });
    return undefined;
  } catch (error) {
    if (error instanceof BadRequestException) return JSON.stringify(error.getResponse());
    throw error;
  }
}

// Ids as they come out of the lossless parser: numbers and strings both as text, well formed or not.
const idLike = fc.oneof(
  fc.bigInt({ min: 1n, max: 9223372036854775807n }).map(String),
  fc.bigInt({ min: -10n, max: 99999999999999999999n }).map(String),
  fc.constantFrom('0', '007', '', ' 1', '1.5', '1e3', '9223372036854775808', 'x'),
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
);
const bodies = fc.oneof(
  fc.record({ userIds: fc.array(idLike, { maxLength: 5 }), guildId: idLike }, { requiredKeys: [] }),
  fc.record({ userIds: fc.oneof(idLike, fc.dictionary(fc.string(), idLike)), extra: fc.anything() }, { requiredKeys: [] }),
  fc.anything(),
);

describe("the query bodies' fast path", () => {
  it('accepts no body the DTO refuses, and answers a refused body exactly as ValidationPipe does', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...DTOS), bodies, async (dto, body) => {
        const expected = await verdict(dto, body);
        const fast =
          typeof body === 'object' && body !== null && !Array.isArray(body) && VALID_BODY.get(dto)!(body as Record<string, unknown>);
        if (fast) expect(expected).toBeUndefined();
        let got: string | undefined;
        try {
          await pipe.transform(body, { type: 'body', metatype: dto });
        } catch (error) {
          got = JSON.stringify((error as BadRequestException).getResponse());
        }
        expect(got).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('is taken by a well-formed query (the body comes back as it was sent, no class instance)', async () => {
    const body = parseJsonKeepingNumbersAsText('{"guildId":100,"userIds":[1,"2",9223372036854775807]}');
    for (const dto of DTOS) expect(await pipe.transform(body, { type: 'body', metatype: dto })).toBe(body);
  });

  it('leaves a body inheriting its ids to ValidationPipe', async () => {
    const body = Object.create({ userIds: ['1'] }) as Record<string, unknown>;
    expect(VALID_BODY.get(UserIdsQuery)!(body)).toBe(false);
  });
});
