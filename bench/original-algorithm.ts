/**
 * The original Java service's way of applying events, for comparison: one event at a time, each
 * Redis command awaited before the next (a synchronous RedisTemplate), and every collection edited
 * in the application: read the JSON array, change it, write it back, then EXPIRE the whole key.
 *
 *   CONNECT / DISCONNECT   HSET USER:STATE <userId> <state>; EXPIRE USER:STATE
 *   JOIN                   HGET GUILD:<g> <channel> -> add the user -> HSET it back; EXPIRE GUILD:<g>
 *   LEAVE                  HGET GUILD:<g> <channel> -> remove the user -> HSET it back (HDEL when empty); EXPIRE GUILD:<g>
 *
 * It did less than the service does (no sessions, no moves, no guild online sets), so the ratio
 * ours/original understates the gain. Not safe under concurrency (the lost-update race the service
 * fixes with Lua); here it runs one event at a time, as the original's single listener thread did.
 */
import Redis from 'ioredis';
import { BenchEvent } from '../testkit/mixed-workload';

const TTL_SECONDS = 86400;

export async function applyOriginally(redis: Redis, { event }: BenchEvent): Promise<void> {
  switch (event.type) {
    case 'CONNECT':
    case 'DISCONNECT':
      await redis.hset('USER:STATE', event.userId, event.state ?? (event.type === 'CONNECT' ? 'online' : 'offline'));
      await redis.expire('USER:STATE', TTL_SECONDS);
      return;
    case 'JOIN':
    case 'LEAVE': {
      const key = `GUILD:${event.guildId}`;
      const raw = await redis.hget(key, event.channelId!);
      const members: string[] = raw ? JSON.parse(raw) : [];
      if (event.type === 'JOIN') {
        if (!members.includes(event.userId)) members.push(event.userId);
        await redis.hset(key, event.channelId!, JSON.stringify(members));
      } else {
        const kept = members.filter((m) => m !== event.userId);
        if (kept.length > 0) await redis.hset(key, event.channelId!, JSON.stringify(kept));
        else await redis.hdel(key, event.channelId!);
      }
      await redis.expire(key, TTL_SECONDS);
      return;
    }
  }
}

/** Applies the events in order, one at a time; calls onProgress every 1000 events. */
export async function applyAllOriginally(redis: Redis, events: readonly BenchEvent[], onProgress?: (done: number) => void): Promise<void> {
  for (let i = 0; i < events.length; i++) {
    await applyOriginally(redis, events[i]);
    if (i % 1000 === 999) onProgress?.(i + 1);
  }
}
