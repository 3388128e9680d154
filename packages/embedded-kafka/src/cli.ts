#!/usr/bin/env node
/**
 * embedded-kafka [--port 9092] [--partitions 3]   (from the repository root: npm run kafka:embedded -- …)
 * Listens on 127.0.0.1 only; prints one line once it accepts connections.
 * Exits 0 on SIGTERM / SIGINT, and with its launcher: when the process that started it (npm, a
 * shell, a test runner) goes away, even by SIGKILL, the broker stops instead of living on orphaned.
 */
import { startEmbeddedKafka } from './index';

function parseArgs(argv: string[]): { port: number; partitions?: number } {
  const args: { port: number; partitions?: number } = { port: 9092 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--port') args.port = Number(value());
    else if (flag === '--partitions') args.partitions = Number(value());
    else if (flag === '--help' || flag === '-h') {
      console.log('usage: embedded-kafka [--port 9092] [--partitions 3]');
      process.exit(0);
    } else {
      console.error(`unknown argument: ${argv[i]}`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) throw new Error('--port must be 0-65535');
  if (args.partitions !== undefined && !(Number.isInteger(args.partitions) && args.partitions > 0)) {
    throw new Error('--partitions must be a positive integer');
  }
  return args;
}

async function main(): Promise<void> {
  const { port, partitions } = parseArgs(process.argv.slice(2));
  const kafka = await startEmbeddedKafka({ port, host: '127.0.0.1', defaultPartitions: partitions });
  console.log(`embedded kafka listening on ${kafka.brokers[0]}`);
  const shutdown = () => {
    kafka.stop().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  // Orphaned: the launcher died without passing a signal on (we were re-parented).
  const launcher = process.ppid;
  setInterval(() => {
    if (process.ppid !== launcher) shutdown();
  }, 500).unref();
}

main().catch((err) => {
  console.error(`embedded kafka failed to start: ${(err as Error).message}`);
  process.exit(1);
});
