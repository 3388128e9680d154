import { registerDecorator } from 'class-validator';
import { abbreviate } from './snowflake-id';

const TOKEN = /^[A-Za-z0-9._:@-]{1,128}$/;

/** Whether a value is a token (what IsToken accepts). */
export const isToken = (value: unknown): boolean => typeof value === 'string' && TOKEN.test(value);

/** An opaque identifier such as a sessionId or serverId: 1-128 letters, digits and . _ : @ - */
export function IsToken(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isToken',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: ({ property, value }) =>
          value === undefined || value === null
            ? `${property} is required`
            : typeof value !== 'string'
              ? `${property} must be a string (got ${abbreviate(value)})`
              : `${property} must be 1 to 128 letters, digits or . _ : @ - (got ${abbreviate(value)})`,
      },
      validator: { validate: isToken },
    });
}
