/**
 * "State was just applied, so change records may be waiting in the outboxes": poked by the apply
 * paths (the Kafka ingest, the HTTP session route) after each chunk, heard by the change stream's
 * relay, which then looks at once instead of at its next idle poll. On the ground floor so that the
 * apply path imports nothing of the change stream; a poke with no listener costs nothing.
 */
const listeners = new Set<() => void>();

export const appliedState = {
  notify(): void {
    for (const listener of listeners) listener();
  },
  /** Returns the unsubscribe. */
  listen(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};
