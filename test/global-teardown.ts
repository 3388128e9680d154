/** Stops the containers global-setup.ts started (testcontainers' reaper removes them too if this never runs). */
export default async function globalTeardown(): Promise<void> {
  const started =
    (globalThis as Record<symbol, { stop(): Promise<unknown> }[] | undefined>)[Symbol.for('state-server.test-containers')] ?? [];
  await Promise.all(started.map((container) => container.stop()));
}
