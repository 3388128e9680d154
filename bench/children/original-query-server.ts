/**
 * Bench child: the original service's query, as a tiny Node HTTP server (no framework, so it is
 * if anything faster per request than the original): GET /guilds/:guildId/states?userIds=a,b
 * reads every user's state (HGETALL USER:STATE), picks the named ones, and reads the guild's
 * channels (HGETALL GUILD:<guildId>).
 */
import http from 'node:http';
import Redis from 'ioredis';
import { childMain } from '../lib/child';

childMain<{ redisUrl: string; port: number }>(async ({ redisUrl, port }, send) => {
  const redis = new Redis(redisUrl);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = url.pathname.match(/^\/guilds\/(\d+)\/states$/);
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    const guildId = match[1];
    const userIds = (url.searchParams.get('userIds') ?? '').split(',').filter(Boolean);
    (async () => {
      const all = await redis.hgetall('USER:STATE');
      const connectionStates: Record<string, string> = {};
      for (const id of userIds) connectionStates[id] = all[id] ?? 'offline';
      const channelStates: Record<string, string[]> = {};
      for (const [channelId, members] of Object.entries(await redis.hgetall(`GUILD:${guildId}`))) {
        channelStates[channelId] = (JSON.parse(members) as unknown[]).map(String);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ guildId, connectionStates, channelStates }));
    })().catch((error) => res.writeHead(500).end(String(error)));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  send({ type: 'listening', url: `http://127.0.0.1:${port}` });
  return async () => {
    server.close();
    redis.disconnect();
  };
});
