import type { ClassConstructor } from 'class-transformer';
import { validateSync } from 'class-validator';
import { describeValidationErrors } from '../common/validation-messages';
import { parseJsonKeepingNumbersAsText } from '../common/lossless-json';

/** An event class that can tell, without class-validator, the records its decorators certainly accept. */
interface PlainlyValidating {
  isPlainlyValid?(parsed: Record<string, unknown>): boolean;
}

/** Why an event cannot be applied; travels to the dead-letter topic as its reason. */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
}

/**
 * Turns a Kafka record value into a validated event of class T, or throws InvalidEventError saying
 * exactly what is wrong. Pure: no I/O, so a bad record costs nothing but its dead letter.
 */
export function decodeEvent<T extends object>(value: Buffer | null, type: ClassConstructor<T>, maxBytes: number): T {
  if (value === null || value.length === 0) throw new InvalidEventError('event has no value');
  if (value.length > maxBytes) {
    throw new InvalidEventError(`event of ${value.length} bytes exceeds the limit of ${maxBytes} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = parseJsonKeepingNumbersAsText(value.toString('utf8'));
  } catch (e) {
    throw new InvalidEventError(`event is not valid JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidEventError('event must be a JSON object');
  }
  // An instance of T without class-transformer (nothing to transform: ids stay as parsed) - it
  // costs as much as the validation itself, on the hot path.
  const event = Object.assign(Object.create(type.prototype as object) as T, parsed);
  // A record in its usual shape skips class-validator when T can tell (a static isPlainlyValid).
  if ((type as PlainlyValidating).isPlainlyValid?.(parsed as Record<string, unknown>)) return event;
  const errors = validateSync(event, { forbidUnknownValues: false, stopAtFirstError: true });
  if (errors.length > 0) throw new InvalidEventError(describeValidationErrors(errors).join('; '));
  return event;
}
