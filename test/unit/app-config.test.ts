import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidConfigError, loadConfig } from '../../src/config/app-config';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      KAFKA_BROKERS: ['localhost:9092'],
      KAFKA_GROUP_ID: 'state-server',
      REDIS_URL: 'redis://localhost:6379',
      SESSION_EVENTS_TOPIC: 'sessionEvent',
      CHANNEL_EVENTS_TOPIC: 'channelEvent',
      DEAD_LETTER_TOPIC_SUFFIX: '.DLT',
      MAX_QUERY_USER_IDS: 100000,
      VOICE_SCOPE: 'guild',
      VOICE_GRACE_SECONDS: 60,
      STATE_PRIORITY: ['invisible', 'dnd', 'online', 'idle'],
      INVISIBLE_SHOWN_AS: 'offline',
      MAX_SESSIONS_PER_USER: 64,
      SESSION_TTL_SECONDS: 0,
    });
  });

  it('reads the environment', () => {
    const config = loadConfig({ PORT: '8080', KAFKA_BROKERS: 'k1:9092, k2:9093', VOICE_SCOPE: 'user', STATE_PRIORITY: 'dnd, online', KAFKA_GROUP_ID: 'my-group' });
    expect(config).toMatchObject({ PORT: 8080, KAFKA_BROKERS: ['k1:9092', 'k2:9093'], VOICE_SCOPE: 'user', STATE_PRIORITY: ['dnd', 'online'], KAFKA_GROUP_ID: 'my-group' });
  });

  it.each([
    ['PORT', 'abc', /PORT/],
    ['PORT', '70000', /PORT/],
    ['KAFKA_BROKERS', 'localhost', /KAFKA_BROKERS must be a comma-separated list of host:port/],
    ['REDIS_URL', 'localhost:6379', /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    ['MAX_QUERY_USER_IDS', '0', /MAX_QUERY_USER_IDS/],
    ['VOICE_SCOPE', 'channel', /VOICE_SCOPE must be one of guild, user, none/],
    ['VOICE_GRACE_SECONDS', '-1', /VOICE_GRACE_SECONDS/],
    ['MAX_SESSIONS_PER_USER', '0', /MAX_SESSIONS_PER_USER/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL/],
    ['SESSION_EVENTS_TOPIC', 'bad topic', /SESSION_EVENTS_TOPIC must be a valid Kafka topic name/],
    ['REDIS_CLUSTER_NODES', 'redis://a:1', /REDIS_CLUSTER_NODES must be a comma-separated list of host:port/],
  ])('names the bad variable %s=%s', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(InvalidConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('takes Redis Cluster seed nodes, and refuses them together with REDIS_URL, naming both', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'r1:7000, r2:7001' }).REDIS_CLUSTER_NODES).toEqual(['r1:7000', 'r2:7001']);
    expect(loadConfig({}).REDIS_CLUSTER_NODES).toBeUndefined();
    expect(() => loadConfig({ REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'r1:7000' })).toThrow(/REDIS_URL and REDIS_CLUSTER_NODES are both set/);
  });

  it('lists every bad variable at once and never shows a secret', () => {
    let message = '';
    try {
      loadConfig({ PORT: 'x', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'hunter2' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/PORT/);
    expect(message).toMatch(/KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required/);
    expect(message).not.toMatch(/hunter2/);
  });

  // dist/ is built by `npm test` (pretest).
  const main = join(__dirname, '..', '..', 'dist', 'main.js');
  it('makes the built service exit with code 2 and the reason before connecting anywhere', () => {
    expect(existsSync(main)).toBe(true);
    const run = spawnSync(process.execPath, [main], { env: { PATH: process.env.PATH, REDIS_URL: 'nope' }, encoding: 'utf8', timeout: 20000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/Invalid configuration: REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL \(got "nope"\)/);
  });
});
