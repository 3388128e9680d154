import { parse } from 'lossless-json';

/**
 * JSON.parse turns 1234567890123456789 into 1234567890123456800. lossless-json hands every
 * number over as its source text instead, so ids survive digit for digit. A side effect we rely on:
 * numbers and numeric strings look the same afterwards ("userId": 5 and "userId": "5" are both "5").
 */
export function parseJsonKeepingNumbersAsText(text: string): unknown {
  return parse(text, null, (digits: string) => digits);
}
