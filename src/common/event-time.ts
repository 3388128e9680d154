/** A record's own time, as the peers may send it: milliseconds since the epoch, 1 to 15 digits (text after lossless parsing). */
export const EPOCH_MS_TEXT = /^[0-9]{1,15}$/;
export const EPOCH_MS_RULE = 'timestamp must be milliseconds since the epoch';

/** For the DTOs' fast paths: absent, or present and passing `check`. */
export const absentOr = (value: unknown, check: (value: unknown) => boolean): boolean => value === undefined || check(value);

export const isEpochMsText = (value: unknown): boolean => typeof value === 'string' && EPOCH_MS_TEXT.test(value);
