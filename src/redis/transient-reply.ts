import { ReplyError } from 'ioredis';

/**
 * Redis answered with an error that passes, so the same work succeeds when retried a little later:
 * it is loading its data set (LOADING), a replica not promoted yet (READONLY, MASTERDOWN,
 * NOREPLICAS), a script is running past busy-reply-threshold (BUSY), or the cluster is moving
 * slots or failing over (MOVED, ASK, TRYAGAIN, CLUSTERDOWN). Any other error reply (a script
 * error, a bug) would fail again on every retry. The one list of the service: the store answers
 * these as "unavailable" (HTTP 503), the consumer retries its chunk.
 */
const TRANSIENT_REPLY = /^(LOADING|READONLY|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|NOREPLICAS|MOVED|ASK)\b/;

export function isTransientReply(error: unknown): boolean {
  return error instanceof ReplyError && TRANSIENT_REPLY.test((error as Error).message);
}
