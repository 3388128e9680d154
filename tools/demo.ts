/**
 * npm run demo — the state server on a laptop, nothing installed but Node and redis-server:
 *   the embedded Kafka broker, Redis (REDIS_URL, or a redis-server started here), the built service
 *   (node dist/main.js), and simulated chat-server and signaling-server traffic, with progress and a
 *   live view of a few guilds. Ctrl-C stops everything, exit 0, ending with "Stopped.". A start-up
 *   step that fails (a port taken, no redis-server) stops what had started and says what to change.
 *
 * Flags: --port 3000 (HTTP), --kafka-port 9092 (0 = any free port), --rate 200 (events/s),
 *        --users 500, --guilds 5, --duration 0 (seconds; 0 = until Ctrl-C)
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { startEmbeddedKafka } from '@state-server/embedded-kafka';
import { freePort } from '../testkit/free-port';
import { startTestRedis } from '../testkit/redis-server';

/**
 * Once the reader of our output is gone — `npm run demo | tee demo.log`, whose tee the same Ctrl-C
 * ends — writing fails with EPIPE. Without a listener that error is thrown and kills the demo
 * before it has stopped redis-server; with one, the demo drops its remaining lines and stops cleanly.
 */
let outputGone = false;
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => (outputGone = true));
const write = (stream: NodeJS.WriteStream, text: string | Buffer) => void (outputGone || stream.write(text));
const say = (line: string) => write(process.stdout, `${line}\n`);
const complain = (line: string) => write(process.stderr, `${line}\n`);

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 0) {
    complain(`--${name} needs a whole number (got ${process.argv[i + 1]})`);
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
const graceSeconds = Number(process.env.VOICE_GRACE_SECONDS ?? 60);

/** A start-up step that failed for a reason the user can fix; printed as one line, no stack. */
class DemoError extends Error {}

/** What was started, stopped in reverse order on Ctrl-C, at the end of --duration, or when a start-up step fails. */
const running: { name: string; stop: () => Promise<void> }[] = [];
let stopping = false;
let stopRun: Promise<never> | undefined;

/** Stops everything once, however many signals arrive; resources registered meanwhile are stopped too. */
function stopAll(code: number): Promise<never> {
  stopping = true;
  stopRun ??= (async () => {
    const anything = running.length > 0;
    if (anything) say('\nStopping…');
    for (let next = running.pop(); next; next = running.pop()) {
      const { name, stop } = next;
      await stop().catch((error: Error) => say(`  could not stop ${name}: ${error.message}`));
    }
    if (anything || code === 0) say('Stopped.');
    process.exit(code);
  })();
  return stopRun;
}

/** Registers something started (stopAll picks it up even if a stop is under way). */
async function started(name: string, stop: () => Promise<void>): Promise<void> {
  running.push({ name, stop });
}

// One Ctrl-C reaches this process (and npm, which passes it on: the second is ignored); the broker
// runs in this process and the service and redis-server in process groups of their own, so each is
// stopped exactly once, in order, by stopAll.
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

/** Fails with the flag to use when `port` is taken (the service would otherwise die on EADDRINUSE). */
async function ensureFree(port: number, host: string, flagName: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? portTaken(port, flagName) : error));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

const portTaken = (port: number, flagName: string) =>
  new DemoError(`port ${port} is taken by another process: pick another with --${flagName} <port> (--${flagName} 0 = any free port)`);

async function main(): Promise<void> {
  say('Starting the embedded Kafka broker…');
  const broker = await startEmbeddedKafka({ port: kafkaPort }).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'EADDRINUSE' ? portTaken(kafkaPort, 'kafka-port') : error;
  });
  await started('the Kafka broker', () => broker.stop());
  say(`  Kafka  ${broker.brokers[0]}`);

  let redisUrl = process.env.REDIS_URL;
  if (redisUrl) {
    say(`  Redis  ${redisUrl} (from REDIS_URL; the demo writes its keys there)`);
  } else {
    const redis = await startTestRedis({ killable: true, ownProcessGroup: true });
    await started('redis-server', () => redis.stop());
    redisUrl = redis.url;
    say(`  Redis  ${redisUrl} (a redis-server started for the demo, in memory)`);
  }

  const port = httpPort === 0 ? await freePort() : httpPort;
  await ensureFree(port, '0.0.0.0', 'port');
  say('Starting the state server (node dist/main.js)…');
  const service: ChildProcess = spawn(process.execPath, [join(__dirname, '..', 'dist', 'main.js')], {
    env: {
      ...process.env,
      PORT: String(port),
      KAFKA_BROKERS: broker.brokers.join(','),
      REDIS_URL: redisUrl,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    },
    // Its output passes through us, so a closed pipe downstream (see outputGone) never fails its writes.
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: the terminal's Ctrl-C reaches only us, and we send one SIGTERM
  });
  service.stdout!.on('data', (chunk: Buffer) => write(process.stdout, chunk));
  service.stderr!.on('data', (chunk: Buffer) => write(process.stderr, chunk));
  const exited = new Promise<number | null>((resolve) => service.once('exit', (code) => resolve(code)));
  await started('the state server', async () => {
    if (service.exitCode === null && service.signalCode === null) service.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) say(`  the state server exited with code ${code}`);
  });
  service.once('exit', (code) => {
    if (!stopping) {
      say(`The state server exited (code ${code}); its output is above.`);
      void stopAll(1);
    }
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/health/ready`, service);
  say(`  HTTP   ${base}`);

  const kafka = new Kafka({ clientId: 'demo-peers', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await started('the simulated peers', () => producer.disconnect());

  const traffic = new Traffic(userCount, guildCount);
  let sent = 0;
  const begun = Date.now();

  // A member of guild 1 that the simulated traffic never touches (members of guild g are the users u
  // with 1 + u % guilds = g), online on a session of its own and seated in voice: the commands below
  // act on a live session and a known member.
  const tryUser = guildCount * (Math.floor(userCount / guildCount) + 1);
  const trySession = `try-${tryUser}`;
  await producer.send({
    topic: 'sessionEvent',
    messages: [{ value: JSON.stringify({ type: 'CONNECT', sessionId: trySession, userId: tryUser, state: 'online', guildIds: [1] }) }],
  });
  await producer.send({
    topic: 'channelEvent',
    messages: [{ value: JSON.stringify({ type: 'JOIN', userId: tryUser, guildId: 1, channelId: 10 }) }],
  });
  const members = [...new Set([guildCount, 2 * guildCount, tryUser])].join(',');

  say(`\nSimulating ${userCount} users in ${guildCount} guilds at ~${rate} events/s. Try:`);
  say(`  curl '${base}/guilds/1/states'                  (guild 1's online members and voice channels)`);
  say(`  curl '${base}/guilds/1/states?userIds=${members}'   (members of guild 1; ${tryUser} is yours to try)`);
  say(`  curl -X POST '${base}/api/state/update/session' -H 'content-type: application/json' \\`);
  say(`       -d '{"sessionId":"${trySession}","type":"DISCONNECT","state":"offline"}'`);
  say(`       (the chat server's DISCONNECT: "result":"${tryUser}" as it was their last session; then they show`);
  say(`       offline, still seated in #10 for the ${graceSeconds} s grace period, then not seated)`);
  say(`  curl -N '${base}/events?guildIds=1&userIds=${members}'   (the change stream: a snapshot, then every change)`);
  say(`  curl '${base}/metrics'     (and ${base}/health/ready)`);
  say(`  ${base}/docs           (every route, with examples)`);
  say('Ctrl-C stops.\n');
  const shown = Math.min(guildCount, 3);
  say(`Every 2 s, read back over HTTP (GET /guilds/:id/states): events produced; per guild, users online and #channel:users in voice.`);
  say(
    `A member shown offline while seated in voice is in the grace period: their last chat session ended and the seat is kept ${graceSeconds} s for the signaling server's LEAVE (a crashed one sends none).`,
  );

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
      .catch((error: Error) => {
        if (!stopping) say(`produce failed: ${error.message}`);
      });
  }, tick);

  const view = setInterval(
    () =>
      void (async () => {
        const lines = [`[${Math.round((Date.now() - begun) / 1000)}s] ${sent} events produced`];
        for (let g = 1; g <= shown; g++) {
          try {
            const res = await fetch(`${base}/guilds/${g}/states`);
            const body = (await res.json()) as { connectionStates: Record<string, string>; channelStates: Record<string, string[]> };
            const online = Object.values(body.connectionStates).filter((s) => s === 'online').length;
            const voice = Object.entries(body.channelStates)
              .map(([c, users]) => `#${c}:${users.length}`)
              .join(' ');
            const inGrace = Object.values(body.channelStates)
              .flat()
              .filter((user) => body.connectionStates[user] !== 'online').length;
            const grace = inGrace > 0 ? `; ${inGrace} of them offline (grace period)` : '';
            lines.push(`  guild ${g}: ${online} online, voice ${voice || '(empty)'}${grace}`);
          } catch (error) {
            lines.push(`  guild ${g}: ${(error as Error).message}`);
          }
        }
        if (!stopping) say(lines.join('\n'));
      })(),
    2000,
  );
  await started('the traffic', async () => {
    clearInterval(sender);
    clearInterval(view);
  });

  if (duration > 0) setTimeout(() => void stopAll(0), duration * 1000);
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
        sessionEvents.push({
          key: String(user),
          value: JSON.stringify({
            type: 'CONNECT',
            sessionId,
            userId: user,
            state: 'online',
            guildIds: [guild],
            serverId: `chat-${user % 2}`,
          }),
        });
      } else if (roll < 0.35) {
        const [ended, ...rest] = live;
        this.sessions.set(user, rest);
        if (rest.length === 0) this.seats.delete(user);
        sessionEvents.push({ key: String(user), value: JSON.stringify({ type: 'DISCONNECT', sessionId: ended, state: 'offline' }) });
      } else if (roll < 0.8) {
        const channel = guild * 10 + Math.floor(Math.random() * 4);
        this.seats.set(user, [guild, channel]);
        channelEvents.push({
          key: String(user),
          value: JSON.stringify({ type: 'JOIN', userId: user, guildId: guild, channelId: channel }),
        });
      } else {
        const seat = this.seats.get(user);
        if (!seat) continue;
        this.seats.delete(user);
        channelEvents.push({
          key: String(user),
          value: JSON.stringify({ type: 'LEAVE', userId: user, guildId: seat[0], channelId: seat[1] }),
        });
      }
    }
    return { sessionEvents, channelEvents };
  }
}

async function waitFor(url: string, service: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (stopping) return;
    if (service.exitCode !== null)
      throw new DemoError(`the state server exited with code ${service.exitCode} while starting (its output is above)`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new DemoError(`${url} did not become ready in 60 s`);
}

main().catch(async (error: Error) => {
  if (stopping) return; // a step cut short by Ctrl-C: stopAll is on it
  // Whatever failed, stop what was already started (no orphaned redis-server), then say why.
  const reason = error instanceof DemoError || /redis-server/.test(error.message) ? error.message : (error.stack ?? error.message);
  complain(`demo failed: ${reason}`);
  await stopAll(1);
});
