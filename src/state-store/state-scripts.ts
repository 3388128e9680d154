import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChainableCommander } from 'ioredis';
import { RedisClient } from '../redis/redis.module';
import { AppConfig } from '../config/app-config';
import { BUCKET_TAGS, KeyLayout, redisKeys, scriptLayout } from './redis-keys';

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

/**
 * The script text: lib.lua, change-outbox.lua (the change stream's recorders) then the script. On a cluster it starts with a `#!lua` shebang: Redis
 * then refuses any key outside the slot of the declared key, so a layout mistake fails loudly
 * instead of working on one node and not on another.
 */
export function loadScript(file: string, clustered: boolean): string {
  const dir = join(__dirname, 'scripts');
  const parts = ['lib', 'change-outbox', file].map((name) => readFileSync(join(dir, `${name}.lua`), 'utf8'));
  return `${clustered ? '#!lua\n' : ''}${parts.join('\n')}`;
}

/**
 * The change stream's recording (change-outbox.lua): on with a CHANGE_TOPIC unless a rebuild is
 * replaying; versions never below the rebuild epoch's time (µs).
 */
export interface ChangeRecording {
  on: boolean;
  epoch: string | null;
}

/** The settings the scripts read (ARGV[2], decoded by lib.lua). */
export function scriptSettings(config: AppConfig, clustered: boolean, recording: ChangeRecording = { on: true, epoch: null }): string {
  const priority = config.STATE_PRIORITY;
  return JSON.stringify({
    ttl: config.ENDED_SESSION_TTL_SECONDS,
    lease: config.SESSION_TTL_SECONDS,
    grace: config.VOICE_GRACE_SECONDS,
    maxSessions: config.MAX_SESSIONS_PER_USER,
    rank: Object.fromEntries(priority.map((state, i) => [state, priority.length - i])),
    invisibleAs: config.INVISIBLE_SHOWN_AS,
    scope: config.VOICE_SCOPE,
    inline: !clustered,
    changes: {
      on: recording.on && config.CHANGE_TOPIC !== '',
      limit: Math.ceil(config.CHANGE_OUTBOX_LIMIT / (clustered ? BUCKET_TAGS.length : 1)),
      floor: recording.epoch ? Number(recording.epoch) * 1000 : 0,
    },
  });
}

type Caller = Record<string, (...args: (string | number | Buffer)[]) => Promise<unknown>>;

/**
 * The state scripts as the store runs them: loaded into the client once, called by name with a
 * bucket and the script's own arguments. The only code that knows how a script is loaded and what
 * it receives besides its own arguments (the layout, the settings).
 */
export class StateScripts {
  private settings: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly config: AppConfig,
    private readonly layout: KeyLayout,
  ) {
    this.settings = scriptSettings(config, layout.clustered, { on: true, epoch: null });
    for (const [name, file] of Object.entries(SCRIPTS)) {
      if (!(`state_${name}` in redis)) redis.defineCommand(`state_${name}`, { numberOfKeys: 1, lua: loadScript(file, layout.clustered) });
    }
    if (!('state_claimEpoch' in redis)) {
      redis.defineCommand('state_claimEpoch', {
        numberOfKeys: 1,
        lua: readFileSync(join(__dirname, 'scripts', 'claim-epoch.lua'), 'utf8'),
      });
    }
  }

  /** The change stream's recording from the next script call on (StateRebuild: off while replaying, the epoch's floor). */
  setChangeRecording(recording: ChangeRecording): void {
    this.settings = scriptSettings(this.config, this.layout.clustered, recording);
  }

  /** Queues one call of a state script in a bucket onto a pipeline. */
  queue(pipeline: ChainableCommander, name: ScriptName, bucket: number, args: readonly (string | number)[]): void {
    (pipeline as unknown as Record<string, (...a: (string | number)[]) => void>)[`state_${name}`](
      this.layout.anchor(bucket),
      scriptLayout,
      this.settings,
      ...args,
    );
  }

  /** Calls a state script in a bucket directly (not pipelined). */
  call(name: ScriptName, bucket: number, args: readonly (string | number | Buffer)[]): Promise<unknown> {
    return (this.redis as unknown as Caller)[`state_${name}`](this.layout.anchor(bucket), scriptLayout, this.settings, ...args);
  }

  /** claim-epoch.lua: moves STATE_STORE:EPOCH from `seen` to `candidate` only if it is still `seen`; returns the epoch to consume. */
  claimEpoch(seen: string | null, candidate: string): Promise<string> {
    return (this.redis as unknown as Caller).state_claimEpoch(redisKeys.storeEpoch, seen ?? '', candidate) as Promise<string>;
  }
}
