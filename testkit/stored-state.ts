import Redis, { Cluster } from 'ioredis';

/**
 * What the service stored, read the same way from a single Redis and from a Redis Cluster (every
 * master scanned, the bucket tags stripped), so that the two can be compared with toEqual: the
 * shown states (USER:STATE, every shard), the voice views (GUILD:<g>, members sorted: join order
 * across partitions is not defined), the guilds' online sets and the summed counters.
 */
export interface StoredState {
  userStates: Record<string, string>;
  guildChannels: Record<string, Record<string, string[]>>;
  guildOnline: Record<string, string[]>;
  counters: Record<string, number>;
}

export async function readStoredState(client: Redis | Cluster): Promise<StoredState> {
  const nodes = (client as Cluster).isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  const state: StoredState = { userStates: {}, guildChannels: {}, guildOnline: {}, counters: {} };
  for (const node of nodes) {
    for (const key of await scanAll(node)) {
      const name = key.replace(/^\{[^}]*\}/, '');
      if (name === 'USER:STATE') Object.assign(state.userStates, await node.hgetall(key));
      else if (name.startsWith('GUILD:')) {
        const channels = Object.entries(await node.hgetall(key)).map(([c, v]) => [c, (JSON.parse(v) as string[]).sort()] as const);
        if (channels.length > 0) state.guildChannels[name.slice('GUILD:'.length)] = Object.fromEntries(channels);
      } else if (name.startsWith('GUILD_ONLINE:')) {
        const members = (await node.smembers(key)).sort();
        if (members.length > 0) state.guildOnline[name.slice('GUILD_ONLINE:'.length)] = members;
      } else if (name === 'STATE_COUNTERS') {
        for (const [field, value] of Object.entries(await node.hgetall(key)))
          state.counters[field] = (state.counters[field] ?? 0) + Number(value);
      }
    }
  }
  for (const [field, value] of Object.entries(state.counters)) if (value === 0) delete state.counters[field];
  return state;
}

async function scanAll(node: Redis): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await node.scan(cursor, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}
