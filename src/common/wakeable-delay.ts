/**
 * A pause of `ms` that another caller may end early: `wake()` resolves `done` at once (a no-op once
 * it has resolved). The pollers that sleep between attempts use it (the Kafka connect loop, the
 * session route's wait), so whoever has news wakes them instead of waiting out the timer.
 */
export function wakeableDelay(ms: number): { done: Promise<void>; wake: () => void } {
  let wake!: () => void;
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  return { done, wake };
}
