import { errorBody } from './error-body';
import { BadRequestException, ValidationError } from '@nestjs/common';
import { describeValidationErrors } from '../common/validation-messages';

/** The one shape of every 400: {"statusCode":400,"error":"Bad Request","message":"…","field":"userIds"}. */
export function badRequest(field: string, message: string): BadRequestException {
  return new BadRequestException(errorBody(400, message, field));
}

/** ValidationPipe's exceptionFactory: names the first bad field and says what is wrong with it. */
export function validationBadRequest(errors: ValidationError[]): BadRequestException {
  const first = errors[0];
  const [message] = describeValidationErrors([first]);
  return badRequest(first.property, message ?? `${first.property} is invalid`);
}
