import 'reflect-metadata';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidConfigError, loadConfig, usesDefault } from '../../src/config/app-config';

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
    const config = loadConfig({
      PORT: '8080',
      KAFKA_BROKERS: 'k1:9092, k2:9093',
      VOICE_SCOPE: 'user',
      STATE_PRIORITY: 'dnd, online',
      KAFKA_GROUP_ID: 'my-group',
    });
    expect(config).toMatchObject({
      PORT: 8080,
      KAFKA_BROKERS: ['k1:9092', 'k2:9093'],
      VOICE_SCOPE: 'user',
      STATE_PRIORITY: ['dnd', 'online'],
      KAFKA_GROUP_ID: 'my-group',
    });
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
    ['SESSION_EVENTS_TOPIC', 'bad topic', /SESSION_EVENTS_TOPIC must be a Kafka topic name/],
    ['REDIS_CLUSTER_NODES', 'redis://a:1', /REDIS_CLUSTER_NODES must be a comma-separated list of host:port/],
    // Values that used to pass validation and then crash the start-up with a stack trace:
    ['REDIS_URL', 'redis://127.0.0.1:99999', /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    ['REDIS_CLUSTER_NODES', '127.0.0.1:99999', /REDIS_CLUSTER_NODES must be a comma-separated list of host:port \(port 1 to 65535\)/],
    ['TRUST_PROXY', 'banana', /TRUST_PROXY must be true, false, a hop count or a comma-separated list of proxy addresses/],
    ['TRUST_PROXY', '10.0.0.0/8/1', /TRUST_PROXY/],
    ['TRUST_PROXY', '10.0.0.0/33', /TRUST_PROXY .*a prefix of 1 to 32 bits/],
    ['TRUST_PROXY', '10.0.0.0/0', /TRUST_PROXY/],
    ['TRUST_PROXY', 'fd00::/129', /TRUST_PROXY/],
    ['REDIS_URL', 'redis://redis:99999', /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL with a host and a port from 1 to 65535/],
    ['STATE_PRIORITY', ',', /STATE_PRIORITY must name at least one state/],
  ])('names the bad variable %s=%s', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(InvalidConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  // The whole message, so that each says what is wrong with that value (PORT=abc used to read "must
  // not be greater than 65535").
  it.each([
    ['PORT', 'abc', 'PORT must be an integer from 0 to 65535 (got "abc")'],
    ['PORT', '70000', 'PORT must be an integer from 0 to 65535 (got "70000")'],
    ['PORT', '-1', 'PORT must be an integer from 0 to 65535 (got "-1")'],
    ['PORT', '80.5', 'PORT must be an integer from 0 to 65535 (got "80.5")'],
    ['KAFKA_SESSION_TIMEOUT_MS', '10', 'KAFKA_SESSION_TIMEOUT_MS must be an integer from 3000 to 300000 (milliseconds) (got "10")'],
    ['SESSION_TTL_SECONDS', 'soon', 'SESSION_TTL_SECONDS must be an integer from 0 to 31536000 (seconds) (got "soon")'],
    ['RATE_LIMIT_PER_MINUTE', 'lots', 'RATE_LIMIT_PER_MINUTE must be an integer of at least 0 (got "lots")'],
    ['KAFKA_FROM_BEGINNING', 'maybe', 'KAFKA_FROM_BEGINNING must be true or false (or 1/0, yes/no) (got "maybe")'],
    ['VOICE_SCOPE', 'channel', 'VOICE_SCOPE must be one of guild, user, none (got "channel")'],
    ['STATE_REBUILD', 'sometimes', 'STATE_REBUILD must be auto or off (got "sometimes")'],
    [
      'KAFKA_BROKERS',
      'localhost',
      'KAFKA_BROKERS must be a comma-separated list of host:port (port 1 to 65535), e.g. kafka-1:9092,kafka-2:9092 (got "localhost")',
    ],
    [
      'KAFKA_BROKERS',
      'k1:9092,k2:99999',
      'KAFKA_BROKERS must be a comma-separated list of host:port (port 1 to 65535), e.g. kafka-1:9092,kafka-2:9092 (got "k1:9092,k2:99999")',
    ],
    [
      'KAFKA_BROKERS',
      ' , ',
      'KAFKA_BROKERS must be a comma-separated list of host:port (port 1 to 65535), e.g. kafka-1:9092,kafka-2:9092 (got " , ")',
    ],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL must be one of the following values: fatal, error, warn, info, debug, trace, silent (got "loud")'],
    [
      'KAFKA_SASL_MECHANISM',
      'kerberos',
      'KAFKA_SASL_MECHANISM must be one of the following values: plain, scram-sha-256, scram-sha-512 (got "kerberos")',
    ],
    [
      'CHANNEL_EVENTS_TOPIC',
      'voice/events',
      'CHANNEL_EVENTS_TOPIC must be a Kafka topic name: 1 to 249 letters, digits, dots, underscores or hyphens (got "voice/events")',
    ],
    ['REDIS_URL', 'redis.internal:6379', 'REDIS_URL must be a redis:// or rediss:// URL (got "redis.internal:6379")'],
  ])('says what is wrong with %s=%j', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(`Invalid configuration: ${message}`);
  });

  it('takes TRUST_PROXY as a flag, a hop count or proxy addresses and subnets', () => {
    for (const value of [
      'true',
      'false',
      '1',
      '10.0.0.0/8',
      '10.0.0.1, ::1, fd00::/8',
      'loopback,uniquelocal',
      '10.1.2.3/32',
      'fd00::/128',
    ]) {
      expect(loadConfig({ TRUST_PROXY: value }).TRUST_PROXY).toBe(value);
    }
  });

  it('takes Redis Cluster seed nodes, and refuses them together with REDIS_URL, naming both', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'r1:7000, r2:7001' }).REDIS_CLUSTER_NODES).toEqual(['r1:7000', 'r2:7001']);
    expect(loadConfig({}).REDIS_CLUSTER_NODES).toBeUndefined();
    expect(() => loadConfig({ REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'r1:7000' })).toThrow(
      /REDIS_URL and REDIS_CLUSTER_NODES are both set/,
    );
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
    const run = spawnSync(process.execPath, [main], {
      env: { PATH: process.env.PATH, REDIS_URL: 'nope' },
      encoding: 'utf8',
      timeout: 20000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/Invalid configuration: REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL \(got "nope"\)/);
  });

  it('logs at warn which Redis it uses when REDIS_URL is not set', async () => {
    expect(existsSync(main)).toBe(true);
    // Kafka at a closed port: the service stays up (not ready) until stopped.
    const child = spawn(process.execPath, [main], {
      env: { PATH: process.env.PATH, PORT: '0', KAFKA_BROKERS: '127.0.0.1:1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    try {
      const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no REDIS_URL warning in 20 s:\n${out}`)), 20000);
        child.stdout.on('data', (chunk) => {
          out += chunk;
          const found = out.split('\n').find((l) => l.includes('REDIS_URL'));
          if (found) {
            clearTimeout(timer);
            resolve(JSON.parse(found));
          }
        });
      });
      expect(line).toMatchObject({ level: 'warn', context: 'Redis', msg: 'REDIS_URL is not set: using redis://localhost:6379' });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('says nothing about REDIS_URL when it is set', () => {
    const config = loadConfig({ REDIS_URL: 'redis://cache:6379' });
    expect(usesDefault(config, 'REDIS_URL')).toBe(false);
    expect(usesDefault(loadConfig({}), 'REDIS_URL')).toBe(true);
  });
});
