/**
 * librdkafka (through the kcat CLI) as a second, independent client: it pipelines
 * requests, negotiates ApiVersions from v3 down, and runs its own group client.
 * kcat is optional: without it these tests are skipped, with one line on stderr saying so
 * (Debian/Ubuntu: apt-get install kcat; KCAT=/path/to/kcat for another binary). The test installs nothing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { Admin, Kafka } from 'kafkajs';
import { startEmbeddedKafka, EmbeddedKafka } from '../src';
import { kafkaClient, fastGroup, uniqueName, waitFor } from './helpers';

const KCAT = process.env.KCAT || 'kcat';
const probe = spawnSync(KCAT, ['-V'], { encoding: 'utf8' });
const kcatMissing = probe.error
  ? `${KCAT} not found (${(probe.error as NodeJS.ErrnoException).code}); apt-get install kcat to run them`
  : null;
// One plain line (console.warn would print jest's multi-line block): what is skipped and how to run it.
if (kcatMissing) process.stderr.write(`kcat.test.ts: skipping the kcat (librdkafka) client tests of the embedded broker: ${kcatMissing}\n`);
const describeWithKcat = kcatMissing ? describe.skip : describe;

/** Runs kcat without blocking the event loop (the broker lives in this process). */
function kcat(args: string[], input?: string, timeoutMs = 20000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(KCAT, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kcat ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

describeWithKcat('embedded kafka with kcat (librdkafka)', () => {
  let broker: EmbeddedKafka;
  let kafka: Kafka;
  let admin: Admin;
  let bootstrap: string;
  const warnings: string[] = [];

  beforeAll(async () => {
    broker = await startEmbeddedKafka({ minSessionTimeoutMs: 1000, logger: { warn: (m) => warnings.push(m) } }); // fastGroup's 3 s sessions
    bootstrap = broker.brokers[0];
    kafka = kafkaClient(broker.brokers);
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.disconnect();
    await broker?.stop();
  });

  afterEach(() => {
    // librdkafka only uses advertised versions, so nothing should have been refused.
    expect(warnings).toEqual([]);
  });

  it('lists metadata', async () => {
    const topic = uniqueName('kcat-meta');
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    const { code, stdout } = await kcat(['-b', bootstrap, '-L', '-t', topic]);
    expect(code).toBe(0);
    expect(stdout).toContain(`broker 0 at ${bootstrap}`);
    expect(stdout).toContain(`topic "${topic}" with 2 partitions`);
  });

  it('produces keyed messages with headers that kafkajs consumes', async () => {
    const topic = uniqueName('kcat-produce');
    const input = Array.from({ length: 100 }, (_, i) => `k${i % 5}:v${i}`).join('\n') + '\n';
    const produced = await kcat(['-b', bootstrap, '-P', '-t', topic, '-K', ':', '-H', 'source=kcat'], input);
    expect(produced.code).toBe(0);

    const consumer = kafka.consumer({ groupId: uniqueName('kcat-reader'), ...fastGroup });
    const got: { key: string; value: string; source: string; partition: number }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) =>
        void got.push({ key: String(message.key), value: String(message.value), source: String(message.headers?.source), partition }),
    });
    try {
      await waitFor(() => got.length >= 100);
      expect(got.map((m) => m.value).sort()).toEqual(Array.from({ length: 100 }, (_, i) => `v${i}`).sort());
      expect(got.every((m) => m.source === 'kcat')).toBe(true);
      for (const key of ['k0', 'k1', 'k2', 'k3', 'k4']) {
        const mine = got.filter((m) => m.key === key);
        expect(new Set(mine.map((m) => m.partition)).size).toBe(1);
        const seq = mine.map((m) => Number(m.value.slice(1)));
        expect(seq).toEqual([...seq].sort((a, b) => a - b));
      }
    } finally {
      await consumer.disconnect();
    }
  });

  it('consumes what kafkajs produced (-C), including gzip and lz4 batches it writes itself', async () => {
    const topic = uniqueName('kcat-consume');
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `from-kafkajs-${i}` })) });
    await producer.disconnect();
    await kcat(['-b', bootstrap, '-P', '-t', topic, '-z', 'gzip'], 'gz-1\ngz-2\n');
    await kcat(['-b', bootstrap, '-P', '-t', topic, '-z', 'lz4'], 'lz4-1\n');

    const { code, stdout } = await kcat(['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%s\n']);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n').sort();
    expect(lines).toEqual([...Array.from({ length: 30 }, (_, i) => `from-kafkajs-${i}`), 'gz-1', 'gz-2', 'lz4-1'].sort());
  });

  it('consumes as a group member (-G) and resumes from its committed offsets', async () => {
    const topic = uniqueName('kcat-group');
    const groupId = uniqueName('kcat-group');
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
    await kcat(['-b', bootstrap, '-P', '-t', topic, '-K', ':'], 'a:1\nb:2\nc:3\nd:4\n');

    // Not "-o beginning": with -G, kcat assigns that offset explicitly and ignores commits.
    const first = await kcat(['-b', bootstrap, '-G', groupId, '-X', 'auto.offset.reset=earliest', '-e', '-q', '-f', '%s\n', topic]);
    expect(first.code).toBe(0);
    expect(first.stdout.trim().split('\n').sort()).toEqual(['1', '2', '3', '4']);
    const [{ partitions }] = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)).toBe(4); // -1 = partition never consumed

    await kcat(['-b', bootstrap, '-P', '-t', topic, '-K', ':'], 'e:5\nf:6\n');
    const second = await kcat(['-b', bootstrap, '-G', groupId, '-X', 'auto.offset.reset=earliest', '-e', '-q', '-f', '%s\n', topic]);
    expect(second.code).toBe(0);
    expect(second.stdout.trim().split('\n').sort()).toEqual(['5', '6']);
  });
});
