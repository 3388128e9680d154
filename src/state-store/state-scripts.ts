import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis, { ChainableCommander, Cluster } from 'ioredis';
import { RedisClient } from '../redis/redis.module';
import { AppConfig } from '../config/app-config';
import { BUCKET_TAGS, KeyLayout, redisKeys, scriptLayout } from './redis-keys';

/** The state functions by the store's name for them: the file that defines each (scripts/<file>.lua). */
export const SCRIPTS = {
  applyEvents: 'apply-events',
  applyFollowUps: 'apply-follow-ups',
  resetServerSessions: 'reset-server-sessions',
  resetVoiceServer: 'reset-voice-server',
  expireSessions: 'expire-sessions',
  expireVoiceGrace: 'expire-voice-grace',
  pruneVersions: 'prune-versions',
  adoptOriginal: 'adopt-original',
} as const;
export type ScriptName = keyof typeof SCRIPTS;

/** The library's files, one per concern, in load order (each uses only those before it), then the functions. */
export const LIBRARY_FILES: readonly string[] = [
  'prelude',
  'change-outbox',
  'channel-view',
  'cluster-touches',
  'voice',
  'sessions',
  'session-ids',
  'follow-ups',
  ...Object.values(SCRIPTS),
];

/**
 * The change stream's recording (change-outbox.lua): on with a CHANGE_TOPIC unless a rebuild is
 * replaying; versions never below the rebuild epoch's time (µs).
 */
export interface ChangeRecording {
  on: boolean;
  epoch: string | null;
}

/** The settings compiled into the library (SETTINGS in prelude.lua). */
export function scriptSettings(config: AppConfig, clustered: boolean): string {
  const priority = config.STATE_PRIORITY;
  return JSON.stringify({
    ttl: config.ENDED_SESSION_TTL_SECONDS,
    // The same as text, for the commands that take it (a library has no `string` while it loads: prelude.lua, int_text).
    ttlText: String(config.ENDED_SESSION_TTL_SECONDS),
    lease: config.SESSION_TTL_SECONDS,
    grace: config.VOICE_GRACE_SECONDS,
    maxSessions: config.MAX_SESSIONS_PER_USER,
    rank: Object.fromEntries(priority.map((state, i) => [state, priority.length - i])),
    invisibleAs: config.INVISIBLE_SHOWN_AS,
    scope: config.VOICE_SCOPE,
    inline: !clustered,
    changes: {
      enabled: config.CHANGE_TOPIC !== '',
      limit: Math.ceil(config.CHANGE_OUTBOX_LIMIT / (clustered ? BUCKET_TAGS.length : 1)),
    },
  });
}

/** The per-call <recording> argument (prelude.lua): "off", or the versions' floor in µs. */
export function recordingArgument(recording: ChangeRecording): string {
  if (!recording.on) return 'off';
  return recording.epoch ? String(Number(recording.epoch) * 1000) : '0';
}

/** A function library's text and the prefix of its function names. */
export interface StateLibrary {
  name: string;
  functionPrefix: string;
  text: string;
}

/**
 * The state library for these settings: the layout and settings compiled in, the files of
 * LIBRARY_FILES after them. Its name carries a hash of its text, so instances with other settings
 * (tests sharing one Redis) load libraries of their own, and its function names carry it too
 * (Redis wants them unique across libraries).
 */
export function stateLibrary(config: AppConfig, clustered: boolean): StateLibrary {
  const dir = join(__dirname, 'scripts');
  const body = [
    `local LAYOUT = ${luaValue(JSON.parse(scriptLayout))}`,
    `local SETTINGS = ${luaValue(JSON.parse(scriptSettings(config, clustered)))}`,
    ...LIBRARY_FILES.map((file) => readFileSync(join(dir, `${file}.lua`), 'utf8')),
  ].join('\n');
  const name = `state_${createHash('sha1').update(body).digest('hex').slice(0, 12)}`;
  const functionPrefix = `${name}_`;
  return { name, functionPrefix, text: `#!lua name=${name}\nlocal FUNCTION_PREFIX = '${functionPrefix}'\n${body}` };
}

/** A JSON value as a Lua constructor (a library being loaded has no cjson yet). */
function luaValue(value: unknown): string {
  if (typeof value === 'string') {
    const bytes = [...Buffer.from(value, 'utf8')];
    return `"${bytes.map((b) => (b >= 32 && b < 127 && b !== 34 && b !== 92 ? String.fromCharCode(b) : `\\${String(b).padStart(3, '0')}`)).join('')}"`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{ ${value.map(luaValue).join(', ')} }`;
  if (value && typeof value === 'object') {
    return `{ ${Object.entries(value)
      .map(([key, item]) => `[${luaValue(key)}] = ${luaValue(item)}`)
      .join(', ')} }`;
  }
  throw new Error(`no Lua spelling for ${String(value)}`);
}

/** The function a script name is registered as (state_function in prelude.lua). */
function functionName(library: StateLibrary, name: ScriptName): string {
  return library.functionPrefix + SCRIPTS[name].replace(/-/g, '_');
}

/** Redis has no such function: it came back without its data (a restart without persistence), or has never loaded it. */
function isMissingFunction(error: unknown): boolean {
  return error instanceof Error && /Function not found/i.test(error.message);
}

type Caller = Record<string, (...args: (string | number | Buffer)[]) => Promise<unknown>>;
type Args = readonly (string | number | Buffer)[];

/**
 * The state functions as the store runs them: one Redis function library (FUNCTION LOAD), loaded
 * once on every master, called by name with a bucket and the function's own arguments (FCALL). The
 * only code that knows how the library is loaded and what a call receives besides its own
 * arguments (the change stream's recording). A Redis that answers "Function not found" (it came
 * back without its data, or a master joined) gets the library again and the calls are sent again:
 * none of them ran there.
 */
export class StateScripts {
  private recording = '0';
  private readonly library: StateLibrary;
  private loading: Promise<void> | null = null;
  /** The FCALLs queued on each pipeline, by their index in it, to be sent again if the library was missing. */
  private readonly queued = new WeakMap<ChainableCommander, Map<number, Args>>();

  constructor(
    private readonly redis: RedisClient,
    config: AppConfig,
    private readonly layout: KeyLayout,
  ) {
    this.library = stateLibrary(config, layout.clustered);
    this.setChangeRecording({ on: true, epoch: null });
    this.reload().catch(() => undefined); // early; a failure here is retried by the first call that misses it
    if (!('state_claimEpoch' in redis)) {
      redis.defineCommand('state_claimEpoch', {
        numberOfKeys: 1,
        lua: readFileSync(join(__dirname, 'scripts', 'claim-epoch.lua'), 'utf8'),
      });
    }
  }

  /** The change stream's recording from the next call on (StateRebuild: off while replaying, the epoch's floor). */
  setChangeRecording(recording: ChangeRecording): void {
    this.recording = recordingArgument(recording);
  }

  /** Queues one call of a state function in a bucket onto a pipeline. */
  queue(pipeline: ChainableCommander, name: ScriptName, bucket: number, args: readonly (string | number)[]): void {
    const fcall = this.fcallArgs(name, bucket, args);
    let calls = this.queued.get(pipeline);
    if (!calls) {
      calls = new Map();
      this.queued.set(pipeline, calls);
      this.resendMissing(pipeline, calls);
    }
    calls.set(pipeline.length, fcall);
    pipeline.fcall(...(fcall as [string, number, ...(string | number | Buffer)[]]));
  }

  /** Calls a state function in a bucket directly (not pipelined). */
  async call(name: ScriptName, bucket: number, args: Args): Promise<unknown> {
    const fcall = this.fcallArgs(name, bucket, args) as [string, number, ...(string | number | Buffer)[]];
    try {
      return await this.redis.fcall(...fcall);
    } catch (error) {
      if (!isMissingFunction(error)) throw error;
      await this.reload();
      return this.redis.fcall(...fcall);
    }
  }

  /** claim-epoch.lua: moves STATE_STORE:EPOCH from `seen` to `candidate` only if it is still `seen`; returns the epoch to consume. */
  claimEpoch(seen: string | null, candidate: string): Promise<string> {
    return (this.redis as unknown as Caller).state_claimEpoch(redisKeys.storeEpoch, seen ?? '', candidate) as Promise<string>;
  }

  private fcallArgs(name: ScriptName, bucket: number, args: Args): Args {
    return [functionName(this.library, name), 1, this.layout.anchor(bucket), this.recording, ...args];
  }

  /**
   * The pipeline's replies, with the FCALLs that met a Redis without the library sent again once it
   * is loaded there (in their order; the pipelines of the store hold FCALLs only, or none).
   */
  private resendMissing(pipeline: ChainableCommander, calls: Map<number, Args>): void {
    const exec = pipeline.exec.bind(pipeline);
    const resending = async (): Promise<[Error | null, unknown][] | null> => {
      const replies = await exec();
      const missing = (replies ?? []).flatMap(([error], i) => (isMissingFunction(error) && calls.has(i) ? [i] : []));
      if (!replies || missing.length === 0) return replies;
      await this.reload();
      const again = this.redis.pipeline();
      for (const i of missing) again.fcall(...(calls.get(i) as [string, number, ...(string | number | Buffer)[]]));
      const resent = (await again.exec()) ?? [];
      missing.forEach((index, j) => (replies[index] = resent[j] ?? [new Error('Redis pipeline was discarded'), null]));
      return replies;
    };
    (pipeline as unknown as { exec: typeof resending }).exec = resending;
  }

  /** Loads the library on every master (one load at a time; callers missing it wait for the same one). */
  private reload(): Promise<void> {
    this.loading ??= this.load().finally(() => (this.loading = null));
    return this.loading;
  }

  private async load(): Promise<void> {
    const cluster = this.redis as Cluster;
    const masters = cluster.isCluster ? cluster.nodes('master') : [this.redis as Redis];
    await Promise.all(masters.map((node) => node.call('FUNCTION', 'LOAD', 'REPLACE', this.library.text)));
  }
}
