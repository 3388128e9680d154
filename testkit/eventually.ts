/** Polls until `check` returns without throwing (or the timeout passes, rethrowing its last error). */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 15000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
