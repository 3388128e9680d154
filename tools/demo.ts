/**
 * npm run demo — the state server on a laptop, nothing installed but Node and redis-server:
 *   the embedded Kafka broker, Redis (REDIS_URL, or a redis-server started here), the built service
 *   (node dist/main.js), and simulated chat-server and signaling-server traffic, with progress and a
 *   live view of a few guilds. Ctrl-C stops everything.
 *
 * Flags: --port 3000 (HTTP), --kafka-port 9092 (0 = any free port), --rate 200 (events/s),
 *        --users 500, --guilds 5, --duration 0 (seconds; 0 = until Ctrl-C)
 */
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { startEmbeddedKafka } from '@state-server/embedded-kafka';
import { freePort, startTestRedis } from '../test/support/redis-server';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`--${name} needs a whole number (got ${process.argv[i + 1]})`);
    process.exit(2);
  }
  return value;
}

const httpPort = flag('port', 3000);
const kafkaPort = flag('kafka-port', 9092);
const rate = flag('rate', 200);
const userCount = flag('users', 500);
const guildCount = flag('guilds', 5);
const duration = flag('duration', 0);

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  say('Starting the embedded Kafka broker…');
  const broker = await startEmbeddedKafka({ port: kafkaPort });
  say(`  Kafka  ${broker.brokers[0]}`);

  let redisUrl = process.env.REDIS_URL;
  let stopRedis = async () => undefined as void;
  if (redisUrl) {
    say(`  Redis  ${redisUrl} (from REDIS_URL; the demo writes its keys there)`);
  } else {
    const redis = await startTestRedis({ killable: true });
    redisUrl = redis.url;
    stopRedis = redis.stop;
    say(`  Redis  ${redisUrl} (a redis-server started for the demo, in memory)`);
  }

  const port = httpPort === 0 ? await freePort() : httpPort;
  say('Starting the state server (node dist/main.js)…');
  const service: ChildProcess = spawn(process.execPath, [join(__dirname, '..', 'dist', 'main.js')], {
    env: { ...process.env, PORT: String(port), KAFKA_BROKERS: broker.brokers.join(','), REDIS_URL: redisUrl, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/health/ready`, service);
  say(`  HTTP   ${base}`);

  const kafka = new Kafka({ clientId: 'demo-peers', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();

  const traffic = new Traffic(userCount, guildCount);
  let sent = 0;
  let stopping = false;
  const started = Date.now();

  const stop = async (code = 0) => {
    if (stopping) return;
    stopping = true;
    say('\nStopping…');
    await producer.disconnect().catch(() => undefined);
    service.kill('SIGTERM');
    await new Promise((r) => service.once('exit', r));
    await broker.stop();
    await stopRedis();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  service.once('exit', (code) => {
    if (!stopping) {
      say(`The state server exited (code ${code}).`);
      void stop(1);
    }
  });

  say(`\nSimulating ${userCount} users in ${guildCount} guilds at ~${rate} events/s. Try:`);
  say(`  curl '${base}/guilds/1/states'`);
  say(`  curl '${base}/guilds/1/states?userIds=1,2,3'`);
  say(`  curl '${base}/metrics'     (and ${base}/health/ready)`);
  say('Ctrl-C stops.\n');

  const tick = 100;
  const sender = setInterval(() => {
    const { sessionEvents, channelEvents } = traffic.next(Math.max(1, Math.round((rate * tick) / 1000)));
    sent += sessionEvents.length + channelEvents.length;
    void producer
      .sendBatch({
        topicMessages: [
          { topic: 'sessionEvent', messages: sessionEvents },
          { topic: 'channelEvent', messages: channelEvents },
        ].filter((t) => t.messages.length > 0),
      })
      .catch((error: Error) => say(`produce failed: ${error.message}`));
  }, tick);

  const view = setInterval(async () => {
    const lines = [`[${Math.round((Date.now() - started) / 1000)}s] ${sent} events produced`];
    for (let g = 1; g <= Math.min(guildCount, 3); g++) {
      try {
        const res = await fetch(`${base}/guilds/${g}/states`);
        const body = (await res.json()) as { connectionStates: Record<string, string>; channelStates: Record<string, string[]> };
        const online = Object.values(body.connectionStates).filter((s) => s === 'online').length;
        const voice = Object.entries(body.channelStates).map(([c, users]) => `#${c}:${users.length}`).join(' ');
        lines.push(`  guild ${g}: ${online} online, voice ${voice || '(empty)'}`);
      } catch (error) {
        lines.push(`  guild ${g}: ${(error as Error).message}`);
      }
    }
    say(lines.join('\n'));
  }, 2000);

  if (duration > 0) {
    setTimeout(() => {
      clearInterval(sender);
      clearInterval(view);
      void stop();
    }, duration * 1000);
  }
}

/** Chat and signaling servers in miniature: users connect (sometimes on two devices), hop between voice channels, leave. */
class Traffic {
  private readonly sessions = new Map<number, string[]>();
  private readonly seats = new Map<number, [number, number]>();
  private nextSession = 1;

  constructor(
    private readonly users: number,
    private readonly guilds: number,
  ) {}

  next(count: number) {
    const sessionEvents: { key: string; value: string }[] = [];
    const channelEvents: { key: string; value: string }[] = [];
    for (let i = 0; i < count; i++) {
      const user = 1 + Math.floor(Math.random() * this.users);
      const guild = 1 + (user % this.guilds);
      const live = this.sessions.get(user) ?? [];
      const roll = Math.random();
      if (live.length === 0 || (roll < 0.15 && live.length < 2)) {
        const sessionId = `demo-${this.nextSession++}`;
        this.sessions.set(user, [...live, sessionId]);
        sessionEvents.push({ key: String(user), value: JSON.stringify({ type: 'CONNECT', sessionId, userId: user, state: 'online', guildIds: [guild], serverId: `chat-${user % 2}` }) });
      } else if (roll < 0.35) {
        const [ended, ...rest] = live;
        this.sessions.set(user, rest);
        if (rest.length === 0) this.seats.delete(user);
        sessionEvents.push({ key: String(user), value: JSON.stringify({ type: 'DISCONNECT', sessionId: ended, state: 'offline' }) });
      } else if (roll < 0.8) {
        const channel = guild * 10 + Math.floor(Math.random() * 4);
        this.seats.set(user, [guild, channel]);
        channelEvents.push({ key: String(user), value: JSON.stringify({ type: 'JOIN', userId: user, guildId: guild, channelId: channel }) });
      } else {
        const seat = this.seats.get(user);
        if (!seat) continue;
        this.seats.delete(user);
        channelEvents.push({ key: String(user), value: JSON.stringify({ type: 'LEAVE', userId: user, guildId: seat[0], channelId: seat[1] }) });
      }
    }
    return { sessionEvents, channelEvents };
  }
}

async function waitFor(url: string, service: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (service.exitCode !== null) throw new Error(`the state server exited with code ${service.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not become ready in 60 s`);
}

main().catch((error) => {
  const hint = (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? ' (another process uses that port: pick one with --kafka-port / --port, 0 = any free port)' : '';
  console.error(`demo failed: ${(error as Error).message}${hint}`);
  process.exit(1);
});
