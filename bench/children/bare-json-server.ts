/**
 * Bench child: the ceiling for an HTTP answer on this machine. A bare node:http server that answers
 * every request with one fixed JSON body (the service's own answer to the query under test, so the
 * same bytes go over the wire), doing no parsing, routing, Redis or logging. The query scenario
 * reports the service's req/s and p99 as a ratio of it, measured in the same run.
 */
import http from 'node:http';
import { childMain } from '../lib/child';

childMain<{ port: number; body: string }>(async ({ port, body }, send) => {
  const payload = Buffer.from(body);
  const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(payload.length) };
  const server = http.createServer((_req, res) => {
    res.writeHead(200, headers).end(payload);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  send({ type: 'listening', url: `http://127.0.0.1:${port}` });
  return async () => {
    server.closeAllConnections();
    server.close();
  };
});
