/**
 * Runs a bounded SSCAN-style step (`cursor` in, next cursor and a count out) until the cursor comes
 * back to "0"; returns the total count. RESETs of chat and signaling servers end their sessions or
 * seats this way, so no single Redis script runs for long.
 */
export async function drainSteps(step: (cursor: string) => Promise<{ cursor: string; ended: number }>): Promise<number> {
  let cursor = '0';
  let total = 0;
  do {
    const next = await step(cursor);
    cursor = next.cursor;
    total += next.ended;
  } while (cursor !== '0');
  return total;
}
