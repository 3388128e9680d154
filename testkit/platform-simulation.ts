/**
 * The platform at random: chat servers, signaling servers and the community server's questions as
 * their code behaves (platform-peers.ts), against two instances of the built service, one of them
 * SIGKILLed and restarted mid-run. The ground truth is the sockets really open; the rules
 * (docs/rules.md) turn it into what must be shown, through the reference model fed in real time.
 * Run short by test/e2e/platform-simulation.test.ts, long by `npm run soak -- --platform`.
 *
 * The peers, as they behave:
 * - chat servers with their own skewed clocks (the CONNECT records' timestamps), each socket a
 *   session with its own state (online, idle, dnd, invisible); CONNECT sent to Kafka unkeyed a few
 *   ms after the socket opens, now and then after a producer stall of seconds; DISCONNECT as a
 *   blocking HTTP call without userId through a load balancer that retries another instance when
 *   the one it picked is gone;
 * - users with second devices, quick sockets (closed within 300 ms), device switches within one chat
 *   server and across two, chat reconnects of at most 2 s while in a call, and a few who leave for
 *   good while their voice socket lingers (the grace period ends those seats);
 * - signaling instances (clocks within ±40 ms of each other; a user acts at most every 300 ms):
 *   voice in two guilds, channel switches on one instance (LEAVE, then JOIN) and across two (JOIN
 *   at once, the old socket's LEAVE when it closes later), LEAVEs of sockets that never joined;
 * - records spread over the partitions at random, as unkeyed records are.
 *
 * Every DISCONNECT answer is kept with what was true when the call was sent: `result` must be the
 * userId iff that socket was the user's last open chat socket. It is judged only when the route
 * says it waited to the end (X-Session-Wait: complete) and the CONNECT that decides it (the
 * socket's own, or for a user still online another open socket's) had been acknowledged by Kafka
 * (acks=all) before the call was sent; others are counted, not judged. So are calls that raced
 * another change of the same user's chat sockets, and calls retried after an instance died.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Admin } from 'kafkajs';
import { eventually } from './eventually';
import { seeded } from './mixed-workload';
import { readObservableState } from './observed-state';
import { ChatServer, SignalingServer, WaitedDisconnectAnswer } from './platform-peers';
import { GuildStatesAnswer, ObservableState, PresenceEvent, PresenceModel } from './presence-model';
import { ServiceProcess } from './service-process';
import { startStack } from './stack';
import { startKafkaProcess } from './kafka';

export interface PlatformSimulationOptions {
  seed: number;
  /** Seconds of traffic (the kill falls between 35 % and 55 % of it). */
  seconds: number;
  users: number;
  /** User actions started per second (each is one to three socket changes). */
  actionsPerSecond: number;
  /**
   * VOICE_GRACE_SECONDS of the service (default 45: longer than a reconnect, a producer stall and a
   * takeover on a busy machine together, which a user's CONNECT may wait out in a dead instance's partition).
   */
  graceSeconds?: number;
  partitions?: number;
  log: (line: string) => void;
}

/** How a DISCONNECT answer was classified. */
export interface AnswerCounts {
  total: number;
  /** By X-Session-Wait (`none` when the service sent no header). */
  byLabel: Record<string, number>;
  /** Waited to the end, deciding CONNECT acknowledged before the call: judged. */
  judged: number;
  right: number;
  /** Waited to the end, but the deciding CONNECT was not acknowledged yet when the call was sent. */
  unacked: number;
  /** Another change of the same user's chat sockets happened during the call (or another DISCONNECT of theirs was in flight). */
  overlapping: number;
  /** Sent again to the other instance after the first one died or refused. */
  retried: number;
  /** Answers that differ from the truth, whatever their class (for the report; only judged ones fail the run)… */
  differingFromTruth: number;
  /** …of which the deciding CONNECT had been acknowledged before the call. */
  differingWithConnectAcked: number;
}

export interface WrongAnswer {
  userId: string;
  sessionId: string;
  expected: string | null;
  got: string | null;
  message: string;
  /** Times relative to the kill (ms, negative before it). */
  sentAt: number;
  answeredAt: number;
  connectAckedAt: number | null;
  instance: string;
}

export interface PlatformSimulationResult {
  seed: number;
  actions: Record<string, number>;
  answers: AnswerCounts;
  wrongAnswers: WrongAnswer[];
  /** stalled/rebuilding answers outside [kill, takeover + 1 s], with their times relative to the kill. */
  earlyLabelsOutsideKillWindow: { label: string; sentAt: number; answeredAt: number; during: string }[];
  earlyLabelsInsideKillWindow: number;
  /** ms from the kill until the group was stable without the dead member. */
  takeoverMs: number;
  /** ms after the kill: the rebalance when the restarted instance joined after the takeover (if it did). */
  rejoinMs?: [number, number];
  /** How late this process's timers ran (the peers' timing, and the embedded broker's): p99 and max, ms. */
  eventLoopDelayMs?: { p99: number; max: number };
  /** What differs between the stored/queried state and the truth at the end (empty when right). */
  finalDifferences: string[];
}

const GUILDS: Record<string, string[]> = { '71': ['711', '712', '713'], '72': ['721', '722', '723'] };
const STATES = ['online', 'online', 'online', 'online', 'online', 'idle', 'dnd', 'invisible'];
/** A user acts at most this often: longer than the signaling instances' clock differences. */
const USER_PAUSE_MS = 300;
/** After the observed takeover: the new owner's first fetch, and the poll that observed it. */
const TAKEOVER_MARGIN_MS = 1000;

interface ChatSocket {
  sessionId: string;
  server: SimChatServer;
  state: string;
  ackedAt?: number;
}

interface VoiceSocket {
  server: SimSignaling;
  guildId: string;
  channelId: string;
}

interface SimUser {
  id: string;
  chat: ChatSocket[];
  /** guildId -> the socket they sit by there (the newest JOIN). */
  voice: Map<string, VoiceSocket>;
  /** Closed chat for good with a voice socket lingering: acts no more. */
  gone: boolean;
  busy: boolean;
  /** Bumped on every open or close of one of their chat sockets: a call that sees it move raced another change. */
  chatChanges: number;
  disconnectsInFlight: number;
  /** What happened to their sockets, ms after the start: printed when the end state differs for them. */
  history: string[];
}

interface SimChatServer {
  name: string;
  peer: ChatServer;
  skewMs: number;
  stalledUntil: number;
}

interface SimSignaling {
  name: string;
  peer: SignalingServer;
  skewMs: number;
}

interface Call {
  userId: string;
  sessionId: string;
  expected: string | null;
  decidingAcked: boolean;
  connectAckedAt?: number;
  overlapping: boolean;
  attempts: number;
  sentAt: number;
  answeredAt: number;
  answer: WaitedDisconnectAnswer;
  instance: string;
}

export async function runPlatformSimulation(options: PlatformSimulationOptions): Promise<PlatformSimulationResult> {
  const { log, seed } = options;
  const random = seeded(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const between = (low: number, high: number) => low + random() * (high - low);
  const partitions = options.partitions ?? 4;
  const graceSeconds = options.graceSeconds ?? 45;
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  // Everything started is stopped in the reverse order, also when the start itself fails.
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  const platform = await startPlatform(partitions, graceSeconds, between, stops).catch(async (error: Error) => {
    await stopAll();
    throw error;
  });
  const { redis, topics, instances, admin, chatServers, signaling } = platform;
  const up = new Set(instances);

  const truth = new PresenceModel();
  let lastTruthAt = 0;
  /** The truth in real time, strictly increasing (the model breaks a JOIN/LEAVE tie as LEAVE after JOIN). */
  const record = (event: PresenceEvent) => truth.apply(event, (lastTruthAt = Math.max(Date.now(), lastTruthAt + 1)));
  const users: SimUser[] = Array.from({ length: options.users }, (_, i) => ({
    id: String(700_000_000 + i),
    chat: [],
    voice: new Map(),
    gone: false,
    busy: false,
    chatChanges: 0,
    disconnectsInFlight: 0,
    history: [],
  }));
  let started = Date.now();
  const note = (user: SimUser, what: string) => user.history.push(`+${Date.now() - started} ${what}`);
  const actions: Record<string, number> = {};
  const count = (name: string) => (actions[name] = (actions[name] ?? 0) + 1);
  const calls: Call[] = [];
  const failures: Error[] = [];
  /** Records on their way (awaited before the end); a failure fails the run. */
  const sends = new Set<Promise<void>>();
  const inBackground = (promise: Promise<unknown>) => {
    const tracked = promise.then(
      () => undefined,
      (error: Error) => void failures.push(error),
    );
    sends.add(tracked);
    void tracked.finally(() => sends.delete(tracked));
  };
  let sessionCounter = 0;
  const runTag = Math.floor(random() * 36 ** 3).toString(36);
  const partition = () => Math.floor(random() * partitions);

  // --- chat ---------------------------------------------------------------------------------

  const openChat = (user: SimUser, server = pick(chatServers)): ChatSocket => {
    const socket: ChatSocket = { sessionId: `${runTag}${(sessionCounter++).toString(36).padStart(5, '0')}`, server, state: pick(STATES) };
    user.chat.push(socket);
    user.chatChanges++;
    record({ type: 'CONNECT', userId: user.id, sessionId: socket.sessionId, state: socket.state });
    note(user, `open ${socket.sessionId} on ${server.name} (${socket.state})`);
    count('chat sockets opened');
    // The CONNECT frame is handled on a pool thread: the record leaves a few ms later, or when the stall ends.
    const at = Date.now() + server.skewMs;
    if (server.stalledUntil > Date.now()) count('CONNECTs held by a producer stall');
    const send = (async () => {
      await sleep(Math.max(between(1, 15), server.stalledUntil - Date.now()));
      for (let attempt = 1; ; attempt++) {
        try {
          await server.peer.connect(socket.sessionId, user.id, socket.state, { partition: partition(), at });
          socket.ackedAt = Date.now();
          note(user, `CONNECT ${socket.sessionId} acked`);
          return;
        } catch (error) {
          if (attempt >= 5) throw error;
          await sleep(200);
        }
      }
    })();
    inBackground(send);
    return socket;
  };

  /** The socket closes; its chat server's DISCONNECT call blocks until answered (retried on the other instance if the one picked died). */
  const closeChat = async (user: SimUser, socket: ChatSocket): Promise<void> => {
    user.chat = user.chat.filter((s) => s !== socket);
    user.chatChanges++;
    record({ type: 'DISCONNECT', userId: user.id, sessionId: socket.sessionId });
    note(user, `close ${socket.sessionId}`);
    const expected = user.chat.length === 0 ? user.id : null;
    const sentAt = Date.now();
    const acked = (s: ChatSocket) => s.ackedAt !== undefined && s.ackedAt < sentAt;
    const decidingAcked = acked(socket) && (expected !== null || user.chat.some(acked));
    const changesAtSend = user.chatChanges;
    const overlapping = user.disconnectsInFlight > 0;
    user.disconnectsInFlight++;
    try {
      for (let attempts = 1; ; attempts++) {
        const instance = pick([...up]);
        try {
          const answer = await socket.server.peer.disconnectWaited(socket.sessionId, instance.url);
          if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${JSON.stringify(answer.body)}`);
          calls.push({
            userId: user.id,
            sessionId: socket.sessionId,
            expected,
            decidingAcked,
            connectAckedAt: socket.ackedAt,
            overlapping: overlapping || user.chatChanges !== changesAtSend || user.disconnectsInFlight > 1,
            attempts,
            sentAt,
            answeredAt: Date.now(),
            answer,
            instance: instance.name,
          });
          return;
        } catch (error) {
          if (attempts >= 20)
            throw new Error(`DISCONNECT of ${socket.sessionId} failed ${attempts} times: ${(error as Error).message}`, { cause: error });
          await sleep(100);
        }
      }
    } finally {
      user.disconnectsInFlight--;
    }
  };

  // --- voice --------------------------------------------------------------------------------

  const at = (server: SimSignaling) => ({ partition: partition(), at: Date.now() + server.skewMs });
  const join = async (user: SimUser, guildId: string, channelId: string, server: SimSignaling) => {
    user.voice.set(guildId, { server, guildId, channelId });
    record({ type: 'JOIN', userId: user.id, guildId, channelId });
    note(user, `JOIN ${guildId}/${channelId} on ${server.name}`);
    await server.peer.join(user.id, guildId, channelId, at(server));
  };
  /** The socket closes: its LEAVE, and the seat ends only if it is the one they sit by. */
  const leave = async (user: SimUser, socket: VoiceSocket) => {
    if (user.voice.get(socket.guildId) === socket) user.voice.delete(socket.guildId);
    record({ type: 'LEAVE', userId: user.id, guildId: socket.guildId, channelId: socket.channelId });
    note(user, `LEAVE ${socket.guildId}/${socket.channelId} on ${socket.server.name}`);
    await socket.server.peer.leave(user.id, socket.guildId, socket.channelId, at(socket.server));
  };

  // --- what a user does ---------------------------------------------------------------------

  let goneCutoff = 0; // leaving for good only while the grace period can run out before the end
  const act = async (user: SimUser, forced?: string): Promise<void> => {
    const inVoice = user.voice.size > 0;
    const choices: [string, number][] = [];
    if (user.chat.length === 0) choices.push(['open chat', 75], ['quick socket', 25]);
    else {
      const freeGuilds = Object.keys(GUILDS).filter((g) => !user.voice.has(g));
      choices.push(
        ['second device', user.chat.length < 3 ? 12 : 0],
        ['quick socket', 8],
        ['switch device on one chat server', 8],
        ['switch device across chat servers', 8],
        ['reconnect', 6],
        ['close a socket', 10],
        ['go offline', 6],
        ['join voice', freeGuilds.length > 0 ? 14 : 0],
        ['switch channel on one signaling server', inVoice ? 8 : 0],
        ['switch channel across signaling servers', inVoice ? 8 : 0],
        ['leave voice', inVoice ? 6 : 0],
        ['leave for good, voice lingering', inVoice && Date.now() < goneCutoff ? 2 : 0],
      );
    }
    const total = choices.reduce((sum, [, w]) => sum + w, 0);
    let roll = random() * total;
    const action = forced ?? (choices.find(([, w]) => (roll -= w) < 0) ?? choices[0])[0];
    count(action);
    const reconnect = async (socket: ChatSocket) => {
      await closeChat(user, socket);
      await sleep(between(100, 2000));
      openChat(user);
    };
    switch (action) {
      case 'open chat':
      case 'second device':
        openChat(user);
        break;
      case 'quick socket': {
        const socket = openChat(user);
        await sleep(between(0, 300));
        await closeChat(user, socket);
        break;
      }
      case 'switch device on one chat server':
      case 'switch device across chat servers': {
        const old = pick(user.chat);
        const others = chatServers.filter((s) => s !== old.server);
        openChat(user, action === 'switch device on one chat server' ? old.server : pick(others));
        await sleep(between(50, 1000));
        await closeChat(user, old);
        break;
      }
      case 'reconnect':
        await reconnect(pick(user.chat));
        break;
      case 'close a socket':
        // The last socket of a user in a call comes back within 2 s (the browser reconnects).
        if (user.chat.length === 1 && inVoice) await reconnect(user.chat[0]);
        else await closeChat(user, pick(user.chat));
        break;
      case 'go offline':
        for (const socket of [...user.voice.values()]) await leave(user, socket);
        for (const socket of [...user.chat]) await closeChat(user, socket);
        break;
      case 'join voice': {
        const guildId = pick(Object.keys(GUILDS).filter((g) => !user.voice.has(g)));
        await join(user, guildId, pick(GUILDS[guildId]), pick(signaling));
        break;
      }
      case 'switch channel on one signaling server': {
        // The instance kicks the old socket (its LEAVE first), then the new one joins.
        const old = pick([...user.voice.values()]);
        await leave(user, old);
        await join(user, old.guildId, pick(GUILDS[old.guildId].filter((c) => c !== old.channelId)), old.server);
        break;
      }
      case 'switch channel across signaling servers': {
        // Another instance: the JOIN comes alone, the old socket's LEAVE whenever it closes.
        const old = pick([...user.voice.values()]);
        await join(
          user,
          old.guildId,
          pick(GUILDS[old.guildId].filter((c) => c !== old.channelId)),
          pick(signaling.filter((s) => s !== old.server)),
        );
        await sleep(between(200, 2000));
        await leave(user, old);
        break;
      }
      case 'leave voice':
        await leave(user, pick([...user.voice.values()]));
        break;
      case 'leave for good, voice lingering':
        user.gone = true;
        note(user, 'leaves for good');
        for (const socket of [...user.chat]) await closeChat(user, socket);
        break;
    }
  };

  // --- the run ------------------------------------------------------------------------------

  const killed = pick(instances);
  let killedAt = 0;
  const group: GroupAfterKill = {};
  const running = new Set<Promise<void>>();
  // The peers' own timing is only as good as this process's event loop (the embedded broker shares it): reported.
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  try {
    log(
      `platform simulation: seed ${seed}, ${options.users} users, ~${options.actionsPerSecond} actions/s for ${options.seconds} s, ` +
        `${partitions} partitions, chat clocks ${chatServers.map((s) => `${s.skewMs > 0 ? '+' : ''}${s.skewMs}`).join('/')} ms, ` +
        `signaling ${signaling.map((s) => `${s.skewMs > 0 ? '+' : ''}${s.skewMs}`).join('/')} ms, grace ${graceSeconds} s; ${killed.name} is killed`,
    );
    started = Date.now();
    const deadline = started + options.seconds * 1000;
    // At the cutoff a few seated users leave for good, so that every run sees the grace period end seats.
    goneCutoff = started + Math.max(8000, (options.seconds - graceSeconds - 5) * 1000);
    let goneForced = false;
    const killAt = started + options.seconds * 1000 * between(0.35, 0.55);
    let begun = 0;
    let nextReport = started + 10000;
    const start = (user: SimUser, forced?: string) => {
      user.busy = true;
      const action: Promise<void> = act(user, forced)
        .then(() => sleep(USER_PAUSE_MS))
        .catch((error: Error) => void failures.push(error))
        .finally(() => {
          user.busy = false;
          running.delete(action);
        });
      running.add(action);
    };
    while (Date.now() < deadline) {
      const now = Date.now();
      const due = Math.floor(((now - started) / 1000) * options.actionsPerSecond) - begun;
      for (let i = 0; i < due; i++) {
        begun++;
        const idle = users.filter((u) => !u.busy && !u.gone);
        if (idle.length > 0) start(pick(idle));
      }
      if (!goneForced && now >= goneCutoff) {
        goneForced = true;
        for (const user of users.filter((u) => !u.busy && !u.gone && u.voice.size > 0).slice(0, 3))
          start(user, 'leave for good, voice lingering');
      }
      if (random() < 0.2) {
        const server = pick(signaling);
        count('LEAVEs of sockets that never joined');
        inBackground(server.peer.leaveWithoutJoining(at(server)));
      }
      for (const server of chatServers) {
        if (now > server.stalledUntil && random() < 50 / 15000) {
          server.stalledUntil = now + between(1000, 3500);
          count('producer stalls');
        }
      }
      if (!killedAt && now >= killAt) {
        up.delete(killed);
        const before = await groupMembers(admin, topics.groupId);
        killedAt = Date.now();
        await killed.kill('SIGKILL');
        log(`[+${killedAt - started} ms] ${killed.name} SIGKILLed`);
        inBackground(observeGroup(admin, topics.groupId, before, killedAt, group, log));
        // Restarted as an orchestrator would, within the session timeout: it joins the same rebalance.
        inBackground(
          sleep(1500)
            .then(() => killed.restart({ waitUntilReady: false }))
            .then(() => killed.waitUntilReady(120000))
            .then(() => void up.add(killed)),
        );
      }
      if (now >= nextReport) {
        nextReport += 10000;
        log(`[${Math.round((now - started) / 1000)}s] ${begun} actions, ${calls.length} DISCONNECTs answered`);
      }
      await sleep(50);
    }
    await Promise.all(running);
    await Promise.all(sends);
    if (failures.length > 0) throw failures[0];
    if (!killedAt) throw new Error('the run ended before the kill');

    // Left for good: the grace period ends their seats once it has run out.
    for (const user of users.filter((u) => u.gone)) record({ type: 'GRACE_EXPIRED', userId: user.id });
    const ids = users.map((u) => u.id);
    let found: Difference[] = [];
    try {
      await eventually(
        async () => {
          found = await differences(redis.client, instances, ids, truth);
          if (found.length > 0) throw new Error('not there yet');
        },
        graceSeconds * 1000 + 60000,
        500,
      );
    } catch {
      /* reported below */
    }
    const finalDifferences = found.map((d) => d.line);
    // The story of the first few users it differs for (times in ms after the start).
    for (const userId of [...new Set(found.flatMap((d) => (d.userId ? [d.userId] : [])))].slice(0, 5))
      finalDifferences.push(`user ${userId}: ${users.find((u) => u.id === userId)?.history.join(', ')}`);
    loopDelay.disable();
    const result = classify(calls, killedAt, group, seed, actions, finalDifferences);
    result.eventLoopDelayMs = { p99: Math.round(loopDelay.percentile(99) / 1e6), max: Math.round(loopDelay.max / 1e6) };
    report(result, truth.observable(), log);
    return result;
  } finally {
    await stopAll();
  }
}

/** The broker, Redis, two instances of the service and the peers' producers; each registers how it stops in `stops`. */
async function startPlatform(
  partitions: number,
  graceSeconds: number,
  between: (low: number, high: number) => number,
  stops: (() => Promise<unknown>)[],
) {
  // The broker in a process of its own: the peers' timing is not held up by its work, nor it by theirs.
  const broker = await startKafkaProcess();
  stops.push(() => broker.stop());
  const stack = await startStack('platform-sim', {
    service: 'none',
    kafka: broker,
    partitions,
    env: { VOICE_GRACE_SECONDS: String(graceSeconds) },
  });
  stops.push(() => stack.stop());
  const instances = await Promise.all(
    ['instance-a', 'instance-b'].map(async (name) => {
      const instance = await ServiceProcess.start(stack.serviceEnv, name);
      stops.push(() => instance.stop());
      return instance;
    }),
  );
  const admin = stack.kafka.kafka.admin();
  await admin.connect();
  stops.push(() => admin.disconnect());
  const chatServers: SimChatServer[] = [];
  for (const name of ['chat-1', 'chat-2', 'chat-3']) {
    const peer = await ChatServer.start(stack.kafka.kafka, stack.topics.sessionEvents, instances[0].url);
    stops.push(() => peer.stop());
    chatServers.push({ name, peer, skewMs: Math.round(between(-3000, 3000)), stalledUntil: 0 });
  }
  const signaling: SimSignaling[] = [];
  for (const name of ['sig-1', 'sig-2', 'sig-3']) {
    const peer = await SignalingServer.start(stack.kafka.kafka, stack.topics.channelEvents);
    stops.push(() => peer.stop());
    signaling.push({ name, peer, skewMs: Math.round(between(-40, 40)) });
  }
  return { ...stack, instances, admin, chatServers, signaling };
}

/** The group's member ids now. */
async function groupMembers(admin: Admin, groupId: string): Promise<Set<string>> {
  return new Set((await admin.describeGroups([groupId])).groups[0].members.map((m) => m.memberId));
}

/** What the group went through after the kill (Date.now() times). */
interface GroupAfterKill {
  /** Stable without the killed member: its partitions have an owner again. */
  takenOverAt?: number;
  /** The restarted instance's own rebalance, when it joined after the takeover. */
  rejoin?: { from: number; to?: number };
}

/**
 * Polls the group until it is stable with two members again, none of them the killed one (`before`:
 * the members before the kill), filling in `seen`. Logs each state it passes through.
 */
async function observeGroup(
  admin: Admin,
  groupId: string,
  before: Set<string>,
  killedAt: number,
  seen: GroupAfterKill,
  log: (line: string) => void,
) {
  let last = '';
  while (Date.now() - killedAt < 120000) {
    const group = (await admin.describeGroups([groupId]).catch(() => undefined))?.groups[0];
    const now = Date.now();
    if (group) {
      const kept = group.members.filter((m) => before.has(m.memberId)).length;
      const state = `${group.state}, ${group.members.length} members (${kept} from before the kill)`;
      if (state !== last) log(`  +${now - killedAt} ms: group ${(last = state)}`);
      const stable = group.state === 'Stable' && kept <= 1;
      if (stable && seen.takenOverAt === undefined) seen.takenOverAt = now;
      if (!stable && seen.takenOverAt !== undefined && !seen.rejoin) seen.rejoin = { from: now };
      if (stable && group.members.length === 2) {
        if (seen.rejoin) seen.rejoin.to = now;
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the group did not become stable without the killed instance within 120 s');
}

interface Difference {
  userId?: string;
  line: string;
}

/** Each user's shown state and seats ("<guild>/<channel>", sorted), stored or answered, against the truth's. */
async function differences(
  client: Parameters<typeof readObservableState>[0],
  instances: ServiceProcess[],
  userIds: string[],
  truth: PresenceModel,
): Promise<Difference[]> {
  const found: Difference[] = [];
  const compare = (where: string, got: Record<string, string>, want: Record<string, string>, what: string) => {
    for (const userId of new Set([...Object.keys(got), ...Object.keys(want)]))
      if (got[userId] !== want[userId])
        found.push({ userId, line: `${where}: user ${userId} ${what} ${got[userId]}, truth ${want[userId]}` });
  };
  const stored = await readObservableState(client);
  const expected = truth.observable();
  compare('stored', stored.userStates, expected.userStates, 'shown');
  compare('stored', seatsByUser(stored.guildChannels), seatsByUser(expected.guildChannels), 'seated in');
  for (const [guildId, members] of Object.entries(stored.guildOnline))
    found.push({ line: `stored: GUILD_ONLINE:${guildId} lists ${members.join(' ')}, though no CONNECT named a guild` });
  for (const instance of instances) {
    for (const guildId of Object.keys(GUILDS)) {
      const res = await fetch(`${instance.url}/guilds/${guildId}/states/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userIds }),
      });
      const got = (await res.json()) as GuildStatesAnswer;
      const want = truth.guildStates(guildId, userIds);
      compare(`${instance.name}, guild ${guildId}`, got.connectionStates, want.connectionStates, 'shown');
      compare(
        `${instance.name}, guild ${guildId}`,
        seatsByUser({ [guildId]: got.channelStates }),
        seatsByUser({ [guildId]: want.channelStates }),
        'seated in',
      );
    }
  }
  return found;
}

/** userId -> "<guild>/<channel> …" (sorted; a user listed twice shows twice). */
function seatsByUser(guildChannels: ObservableState['guildChannels']): Record<string, string> {
  const seats: Record<string, string[]> = {};
  for (const [guildId, channels] of Object.entries(guildChannels))
    for (const [channelId, members] of Object.entries(channels))
      for (const userId of members) (seats[userId] ??= []).push(`${guildId}/${channelId}`);
  return Object.fromEntries(Object.entries(seats).map(([userId, list]) => [userId, list.sort().join(' ')]));
}

function classify(
  calls: Call[],
  killedAt: number,
  group: GroupAfterKill,
  seed: number,
  actions: Record<string, number>,
  finalDifferences: string[],
): PlatformSimulationResult {
  const answers: AnswerCounts = {
    total: calls.length,
    byLabel: {},
    judged: 0,
    right: 0,
    unacked: 0,
    overlapping: 0,
    retried: 0,
    differingFromTruth: 0,
    differingWithConnectAcked: 0,
  };
  const wrongAnswers: WrongAnswer[] = [];
  const earlyLabelsOutsideKillWindow: PlatformSimulationResult['earlyLabelsOutsideKillWindow'] = [];
  let earlyLabelsInsideKillWindow = 0;
  const windowEnd = group.takenOverAt! + TAKEOVER_MARGIN_MS;
  const rejoin = group.rejoin ? [group.rejoin.from, group.rejoin.to ?? Infinity] : undefined;
  for (const call of calls) {
    const label = call.answer.sessionWait ?? 'none';
    answers.byLabel[label] = (answers.byLabel[label] ?? 0) + 1;
    const got = call.answer.body.result ?? null;
    const right = got === call.expected;
    if (!right) answers.differingFromTruth++;
    if (!right && call.decidingAcked) answers.differingWithConnectAcked++;
    if (label === 'stalled' || label === 'rebuilding') {
      if (call.answeredAt >= killedAt && call.sentAt <= windowEnd) earlyLabelsInsideKillWindow++;
      else
        earlyLabelsOutsideKillWindow.push({
          label,
          sentAt: call.sentAt - killedAt,
          answeredAt: call.answeredAt - killedAt,
          during:
            call.answeredAt < killedAt
              ? 'before the kill'
              : rejoin && call.answeredAt >= rejoin[0] && call.sentAt <= rejoin[1]
                ? "the restarted instance's join"
                : 'after the takeover',
        });
    }
    if (label !== 'complete') continue;
    if (call.attempts > 1) answers.retried++;
    else if (call.overlapping) answers.overlapping++;
    else if (!call.decidingAcked) answers.unacked++;
    else {
      answers.judged++;
      if (right) answers.right++;
      else
        wrongAnswers.push({
          userId: call.userId,
          sessionId: call.sessionId,
          expected: call.expected,
          got,
          message: call.answer.body.message,
          sentAt: call.sentAt - killedAt,
          answeredAt: call.answeredAt - killedAt,
          connectAckedAt: call.connectAckedAt === undefined ? null : call.connectAckedAt - killedAt,
          instance: call.instance,
        });
    }
  }
  return {
    seed,
    actions,
    answers,
    wrongAnswers,
    earlyLabelsOutsideKillWindow,
    earlyLabelsInsideKillWindow,
    takeoverMs: group.takenOverAt! - killedAt,
    rejoinMs: group.rejoin ? [group.rejoin.from - killedAt, (group.rejoin.to ?? NaN) - killedAt] : undefined,
    finalDifferences,
  };
}

function report(result: PlatformSimulationResult, expected: ObservableState, log: (line: string) => void): void {
  const { answers } = result;
  const online = Object.values(expected.userStates).filter((s) => s !== 'offline').length;
  const seats = Object.values(expected.guildChannels).reduce((n, channels) => n + Object.values(channels).flat().length, 0);
  log(
    `actions: ${Object.entries(result.actions)
      .map(([name, n]) => `${name} ${n}`)
      .join(', ')}`,
  );
  if (result.eventLoopDelayMs)
    log(`event loop delay of the peers' process: p99 ${result.eventLoopDelayMs.p99} ms, max ${result.eventLoopDelayMs.max} ms`);
  log(`truth at the end: ${Object.keys(expected.userStates).length} users seen, ${online} shown online, ${seats} voice seats`);
  log(
    `DISCONNECT answers: ${answers.total} (by X-Session-Wait: ${Object.entries(answers.byLabel)
      .map(([l, n]) => `${l} ${n}`)
      .join(', ')}); ` +
      `judged ${answers.judged}, right ${answers.right}, wrong ${result.wrongAnswers.length}; not judged: deciding CONNECT not acked ${answers.unacked}, ` +
      `racing another change of the user's sockets ${answers.overlapping}, retried after an instance died ${answers.retried}; ` +
      `differing from the truth, all classes: ${answers.differingFromTruth} (${answers.differingWithConnectAcked} with the deciding CONNECT acked)`,
  );
  log(
    `takeover ${result.takeoverMs} ms after the kill${result.rejoinMs ? `, the restarted instance's join rebalance +${result.rejoinMs[0]}…+${result.rejoinMs[1]} ms` : ''}; stalled/rebuilding answers inside that window ${result.earlyLabelsInsideKillWindow}, ` +
      `outside ${result.earlyLabelsOutsideKillWindow.length}`,
  );
  for (const wrong of result.wrongAnswers.slice(0, 10)) log(`  wrong: ${JSON.stringify(wrong)}`);
  for (const early of result.earlyLabelsOutsideKillWindow.slice(0, 10)) log(`  early outside the kill window: ${JSON.stringify(early)}`);
  log(`final state: ${result.finalDifferences.length === 0 ? 'equal to the truth' : `${result.finalDifferences.length} differences`}`);
  for (const line of result.finalDifferences.slice(0, 20)) log(`  ${line}`);
}
