import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { badRequest } from '../http/bad-request';
import { MetricsService } from '../metrics/metrics.service';
import { StateStore, UnreadableValue } from '../state-store/state-store';
import { distinctIds } from './distinct-ids';
import { GuildStates, UserInfo } from './guild-states.dto';

/** Online members per page of a whole-guild answer when the request names no limit. */
export const DEFAULT_PAGE = 1000;
/** Distinct unreadable values logged (each once); past this, they are only counted. */
const MAX_LOGGED_UNREADABLE = 1000;

/**
 * Answers the community server. Reads only what is asked for: the named users' fields of
 * USER:STATE (HMGET, at most 1,000 fields per command) and the guild's channel hash, in one round
 * trip, whatever the number of users known. (The original read every user's state and then picked.)
 * Redis unreachable: StateStoreUnavailableError, answered 503 by HttpErrorsFilter.
 */
@Injectable()
export class GuildStatesService {
  private readonly log = new Logger('GuildStates');
  private readonly loggedUnreadable = new Set<string>();

  constructor(
    private readonly store: StateStore,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  /** Named users: each gets a state, "offline" if never seen, and the guild's voice channels. No users named: guildPresence's first page. */
  async guildStates(guildId: string, userIds: readonly string[] | undefined): Promise<GuildStates> {
    if (userIds === undefined) return this.guildPresence(guildId);
    const { ids, states, channels } = await this.readNamed(guildId, userIds);
    return { guildId, connectionStates: zipStates(ids, states), channelStates: channels };
  }

  /** guildStates' answer for named users, as JSON text: the HTTP routes send it as is (see statesJson). */
  async guildStatesJson(guildId: string, userIds: readonly string[]): Promise<string> {
    const { ids, states, channels } = await this.readNamed(guildId, userIds);
    return `{"guildId":${JSON.stringify(guildId)},"connectionStates":${statesJson(ids, states)},"channelStates":${JSON.stringify(channels)}}`;
  }

  /**
   * No users named: a page of the guild's online members (about `limit`, from `cursor`), the users
   * in its voice channels (first page) and its channels; `nextCursor` when there is more.
   */
  async guildPresence(guildId: string, page: { cursor?: string; limit?: number } = {}): Promise<GuildStates> {
    const snapshot = await this.store.readGuildPage(guildId, page.cursor ?? '0', page.limit ?? DEFAULT_PAGE);
    this.report(snapshot.unreadable);
    const inVoice = new Set(Object.values(snapshot.channels).flat());
    // A user shown offline (invisible) is listed only where they are visible anyway: in a voice channel.
    const connectionStates: Record<string, string> = {};
    snapshot.userIds.forEach((id, i) => {
      const state = snapshot.states[i] ?? 'offline';
      if (state !== 'offline' || inVoice.has(id)) connectionStates[id] = state;
    });
    return {
      guildId,
      connectionStates,
      channelStates: snapshot.channels,
      ...(snapshot.nextCursor ? { nextCursor: snapshot.nextCursor } : {}),
    };
  }

  /**
   * The original's community route: every named user gets a state, "offline" if never seen (the
   * browsers drop a member with none from the list); any number of ids up to MAX_QUERY_USER_IDS, none included.
   */
  async communityUserInfo(guildId: string, userIds: readonly string[]): Promise<Required<UserInfo>> {
    const { ids, states, channels } = await this.readNamed(guildId, userIds);
    return { connectionStates: zipStates(ids, states), channelStates: channels };
  }

  /** communityUserInfo's answer as JSON text, for the HTTP route. */
  async communityUserInfoJson(guildId: string, userIds: readonly string[]): Promise<string> {
    const { ids, states, channels } = await this.readNamed(guildId, userIds);
    return `{"connectionStates":${statesJson(ids, states)},"channelStates":${JSON.stringify(channels)}}`;
  }

  /** The original's direct route: every named user gets a state, "offline" if never seen (the user service's friend list throws on a missing id). */
  async directUserInfo(userIds: readonly string[]): Promise<UserInfo> {
    const ids = this.checkedIds(userIds);
    const states = await this.store.readStates(ids);
    return { connectionStates: zipStates(ids, states) };
  }

  private async readNamed(guildId: string, userIds: readonly string[]) {
    const ids = this.checkedIds(userIds);
    const { states, channels, unreadable } = await this.store.readGuild(guildId, ids);
    this.report(unreadable);
    return { ids, states, channels };
  }

  private checkedIds(userIds: readonly string[]): readonly string[] {
    const unique = distinctIds(userIds);
    if (unique.length > this.config.MAX_QUERY_USER_IDS) {
      throw badRequest('userIds', `userIds may name at most ${this.config.MAX_QUERY_USER_IDS} users (got ${unique.length})`);
    }
    return unique;
  }

  /** Values another writer left unreadable are skipped in the answer: counted, and logged once per key and field. */
  private report(unreadable: readonly UnreadableValue[]): void {
    for (const { key, field } of unreadable) {
      this.metrics.unreadableValues.inc();
      const id = `${key}\u0000${field}`;
      if (this.loggedUnreadable.has(id) || this.loggedUnreadable.size >= MAX_LOGGED_UNREADABLE) continue;
      this.loggedUnreadable.add(id);
      this.log.warn(
        `Skipped an unreadable value in ${key} (field ${JSON.stringify(field).slice(0, 40)}): not a JSON array of ids (another writer's bytes?); the next write to that channel replaces it`,
      );
    }
  }
}

/** userId -> state for every id asked, "offline" for users never seen. */
export function zipStates(ids: readonly string[], states: readonly (string | null)[]): Record<string, string> {
  const result: Record<string, string> = {};
  ids.forEach((id, i) => (result[id] = states[i] ?? 'offline'));
  return result;
}

/** Array indices (canonical integers up to 2^32 - 2): JavaScript orders them first among an object's keys, ascending. */
const isArrayIndex = (id: string) =>
  id.length <= 10 && (id.length < 10 || id <= '4294967294') && (id[0] !== '0' || id === '0') && DIGITS.test(id);
const DIGITS = /^[0-9]+$/;
/** Distinct states statesJson keeps quoted (there are a handful: online, idle, dnd, offline, …); others are quoted each time. */
const MAX_REMEMBERED_STATES = 8;
/** Text JSON.stringify writes between quotes unchanged. */
const PLAIN = /^[\w.-]*$/;
const quoted = (text: string) => (PLAIN.test(text) ? `"${text}"` : JSON.stringify(text));

/**
 * JSON.stringify(zipStates(ids, states)), byte for byte, without building the object: making and
 * serializing an object of 5,000 numeric-looking keys (dictionary mode) costs about 4x the CPU of
 * writing the text (2x for 100 ids), and was the largest item of a query's profile. Keys in the
 * order an object keeps them: array-index ids first, ascending, then the rest as given. `ids` hold
 * no duplicates (checkedIds).
 */
export function statesJson(ids: readonly string[], states: readonly (string | null)[]): string {
  let text = '';
  let indexed: [number, string][] | undefined;
  // A handful of distinct states, each quoted once. Looked up by ===, not in a Map: each state is a
  // fresh string from the Redis reply, and a Map would hash every one of them (a runtime call each).
  const seen: string[] = [];
  const seenValues: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const state = states[i] ?? 'offline';
    let value: string | undefined;
    for (let k = 0; k < seen.length; k++) {
      if (seen[k] === state) {
        value = seenValues[k];
        break;
      }
    }
    if (value === undefined) {
      value = `:${quoted(state)}`;
      if (seen.length < MAX_REMEMBERED_STATES) {
        seen.push(state);
        seenValues.push(value);
      }
    }
    const id = ids[i];
    // Snowflakes are digits only, and past 10 digits never an array index: the usual case, first.
    const digits = DIGITS.test(id);
    const key = digits ? `"${id}"` : JSON.stringify(id);
    if (digits && id.length <= 10 && isArrayIndex(id)) (indexed ??= []).push([Number(id), key + value]);
    else text += text === '' ? key + value : `,${key}${value}`;
  }
  if (!indexed) return `{${text}}`;
  const first = indexed
    .sort((a, b) => a[0] - b[0])
    .map(([, entry]) => entry)
    .join(',');
  return `{${first}${text ? `,${text}` : ''}}`;
}
