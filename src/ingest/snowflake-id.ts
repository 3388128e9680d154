import { Transform } from 'class-transformer';
import { registerDecorator, ValidationOptions } from 'class-validator';

const MAX_ID = (1n << 63n) - 1n;
const DECIMAL = /^[0-9]{1,20}$/;

/**
 * Ids are 64-bit snowflakes (Java longs in the original). They arrive as JSON numbers or strings,
 * are parsed losslessly (see lossless-json.ts) and are kept as canonical decimal strings.
 * Returns the canonical form ("007" -> "7") or undefined when the value is not an id.
 */
export function canonicalId(value: unknown): string | undefined {
  if (typeof value !== 'string' || !DECIMAL.test(value)) return undefined;
  const n = BigInt(value);
  if (n < 1n || n > MAX_ID) return undefined;
  return n.toString();
}

export const ID_RULE = 'must be a decimal integer id between 1 and 9223372036854775807';

/** A bad value as shown in an error message: JSON, cut to a readable length. */
export function abbreviate(value: unknown, max = 60): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

const toCanonical = (value: unknown) => canonicalId(value) ?? value;

/**
 * Validates a snowflake id (or each element of an array with { each: true }) and, when valid,
 * rewrites it to its canonical decimal string during plainToInstance.
 */
export function IsSnowflakeId(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    Transform(({ value }) => (options?.each && Array.isArray(value) ? value.map(toCanonical) : toCanonical(value)))(
      target,
      propertyName as string,
    );
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
      validator: { validate: (value: unknown) => typeof value === 'string' && value === canonicalId(value) },
    });
  };
}
