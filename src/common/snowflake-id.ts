import { registerDecorator, ValidationOptions } from 'class-validator';

const MAX_ID = '9223372036854775807'; // 2^63 - 1: a Java long, as in the original
/** 1 to 19 digits, no leading zero: the one way to write each id, so equal ids are equal strings. */
const DECIMAL = /^[1-9][0-9]{0,18}$/;
const ZERO = 48; // '0'

/**
 * Ids are 64-bit snowflakes (Java longs in the original). They arrive as JSON numbers or strings,
 * are parsed losslessly (see lossless-json.ts) and are kept as decimal strings. JSON numbers never
 * have leading zeros; a string id that has them ("007") is refused rather than silently rewritten.
 * Returns the id, or undefined when the value is not an id.
 */
export function canonicalId(value: unknown): string | undefined {
  if (typeof value !== 'string' || !DECIMAL.test(value)) return undefined;
  // Same length: decimal strings compare like their numbers.
  if (value.length === MAX_ID.length && value > MAX_ID) return undefined;
  return value;
}

/** Any character an id list cannot hold. */
const NOT_DIGIT_OR_COMMA = /[^0-9,]/;

/**
 * The ids of a comma-separated list ("1,2,3") when every one is an id as canonicalId takes it,
 * else undefined (the caller then looks at each part, to say which is wrong). One scan of the
 * whole text for a stray character, then each part's length and first digit: a pattern test per
 * id (or a full-list pattern, which backtracks at every digit) cost several times more.
 */
export function canonicalIdList(text: string): string[] | undefined {
  if (NOT_DIGIT_OR_COMMA.test(text)) return undefined;
  const ids = text.split(',');
  for (const id of ids) {
    // Digits only (above): an id is 1 to 19 of them, no leading zero, at most MAX_ID.
    const length = id.length;
    if (length === 0 || length > MAX_ID.length || id.charCodeAt(0) === ZERO) return undefined;
    if (length === MAX_ID.length && id > MAX_ID) return undefined;
  }
  return ids;
}

export const ID_RULE = 'must be a decimal integer id between 1 and 9223372036854775807, without leading zeros';

/** A bad value as shown in an error message: JSON, cut to a readable length. */
export function abbreviate(value: unknown, max = 60): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Validates a snowflake id (or each element of an array with { each: true }). */
export function IsSnowflakeId(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    registerDecorator({
      name: 'isSnowflakeId',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: ({ property, value }) => {
          if (options?.each) {
            if (value === undefined || value === null) return `${property} is required (an array of ids)`;
            if (!Array.isArray(value)) return `${property} must be an array of ids (got ${abbreviate(value)})`;
            return `${property} must contain only ids that each ${ID_RULE} (got ${abbreviate(value)})`;
          }
          if (value === undefined || value === null) return `${property} is required (a decimal integer id)`;
          return `${property} ${ID_RULE} (got ${abbreviate(value)})`;
        },
        ...options,
      },
      validator: { validate: (value: unknown) => canonicalId(value) !== undefined },
    });
  };
}
