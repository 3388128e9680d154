/**
 * Bench child: the floor for the query routes. The least work any implementation must do to answer
 * them from the same Redis: node:http with no framework, and one pipeline per request (HMGET
 * USER:STATE <ids> + HGETALL GUILD:<guildId>), no validation, metrics, logging or request id.
 *   GET  /guilds/:guildId/states?userIds=a,b         -> { guildId, connectionStates, channelStates }
 *   POST /api/state/community/user/info {guildId, userIds} -> { connectionStates, channelStates }
 * The query scenario checks its answers equal the service's before measuring either.
 */
import http from 'node:http';
import Redis from 'ioredis';
import { childMain } from '../lib/child';

const GUILD_STATES = /^\/guilds\/(\d+)\/states\?userIds=([\d,]*)$/;

childMain<{ redisUrl: string; port: number }>(async ({ redisUrl, port }, send) => {
  const redis = new Redis(redisUrl);
  const read = async (guildId: string, ids: string[]) => {
    const [[, states], [, channels]] = (await redis
      .pipeline()
      .hmget('USER:STATE', ...ids)
      .hgetall(`GUILD:${guildId}`)
      .exec()) as [[null, (string | null)[]], [null, Record<string, string>]];
    const connectionStates: Record<string, string> = {};
    ids.forEach((id, i) => (connectionStates[id] = states[i] ?? 'offline'));
    const channelStates: Record<string, string[]> = {};
    for (const channelId in channels) channelStates[channelId] = JSON.parse(channels[channelId]) as string[];
    return { connectionStates, channelStates };
  };
  const answer = (res: http.ServerResponse, body: unknown) =>
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
  const server = http.createServer((req, res) => {
    const failed = (error: unknown) => res.writeHead(500).end(String(error));
    const get = req.method === 'GET' ? GUILD_STATES.exec(req.url ?? '') : null;
    if (get) {
      const guildId = get[1];
      read(guildId, [...new Set(get[2].split(','))]).then(({ connectionStates, channelStates }) => {
        answer(res, { guildId, connectionStates, channelStates });
      }, failed);
      return;
    }
    if (req.method === 'POST' && req.url === '/api/state/community/user/info') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        // Ids are 64-bit numbers in JSON: taken as text (JSON.parse would round them), the least parsing that keeps them.
        const text = Buffer.concat(chunks).toString();
        const guildId = /"guildId"\s*:\s*"?(\d+)/.exec(text)?.[1] ?? '';
        const list = text.slice(text.indexOf('[', text.indexOf('"userIds"')), text.indexOf(']', text.indexOf('"userIds"')));
        read(guildId, [...new Set(list.match(/\d+/g) ?? [])]).then((body) => answer(res, body), failed);
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  send({ type: 'listening', url: `http://127.0.0.1:${port}` });
  return async () => {
    server.closeAllConnections();
    server.close();
    redis.disconnect();
  };
});
