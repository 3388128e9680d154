import { ValidationError } from 'class-validator';

/** The first failed rule of each bad field, e.g. "userId must be a decimal integer id …". */
export function describeValidationErrors(errors: ValidationError[], path = ''): string[] {
  return errors.flatMap((e) => {
    const field = path ? `${path}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {})
      .slice(0, 1)
      .map((m) => m.replace(e.property, field));
    return [...own, ...describeValidationErrors(e.children ?? [], field)];
  });
}
