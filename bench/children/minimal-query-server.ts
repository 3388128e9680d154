/**
 * Bench child: the same query with nothing but Fastify and ioredis, the floor for "HTTP + one Redis
 * round trip + JSON" in Node: GET /guilds/:guildId/states?userIds=a,b answers from one pipeline of
 * HMGET USER:STATE <ids> and HGETALL GUILD:<guildId>, with no validation, metrics, logging,
 * request id or Nest. What the service costs beyond it is its framework and its own checks.
 */
import Fastify from 'fastify';
import Redis from 'ioredis';
import { childMain } from '../lib/child';

childMain<{ redisUrl: string; port: number }>(async ({ redisUrl, port }, send) => {
  const redis = new Redis(redisUrl);
  const app = Fastify({ logger: false });
  app.get<{ Params: { guildId: string }; Querystring: { userIds?: string } }>('/guilds/:guildId/states', async (request) => {
    const { guildId } = request.params;
    const ids = [...new Set((request.query.userIds ?? '').split(','))];
    const replies = await redis
      .pipeline()
      .hmget('USER:STATE', ...ids)
      .hgetall(`GUILD:${guildId}`)
      .exec();
    const states = replies![0][1] as (string | null)[];
    const channels = replies![1][1] as Record<string, string>;
    const connectionStates: Record<string, string> = {};
    ids.forEach((id, i) => (connectionStates[id] = states[i] ?? 'offline'));
    const channelStates: Record<string, string[]> = {};
    for (const [channelId, members] of Object.entries(channels)) channelStates[channelId] = JSON.parse(members) as string[];
    return { guildId, connectionStates, channelStates };
  });
  await app.listen({ port, host: '127.0.0.1' });
  send({ type: 'listening', url: `http://127.0.0.1:${port}` });
  return async () => {
    await app.close();
    redis.disconnect();
  };
});
