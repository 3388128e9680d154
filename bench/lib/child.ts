import { ChildProcess, fork } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

/** A bench process (the service, a bare consumer, the original's query server) driven over IPC. */
export interface BenchChild {
  pid: number;
  /** Resolves with the first message of this type the child sends. */
  next<T = Record<string, unknown>>(type: string, timeoutMs?: number): Promise<T>;
  /** Peak resident set size seen by sampleRss() so far, in bytes. */
  peakRss(): number;
  rss(): number;
  /** CPU time (user + system) the child has used so far, in ms (10 ms resolution). */
  cpuMs(): number;
  /** Samples RSS every 200 ms until stop(). */
  sampleRss(): { stop(): void };
  /** Asks the child to close cleanly (so a --cpu-prof profile gets written); kills it after 15 s. */
  stop(): Promise<void>;
  /** SIGKILLs the child (a crash: no clean leave, no profile) and waits for it to exit. */
  kill(): Promise<void>;
  /** Where the child's stdout/stderr go. */
  logFile: string;
  /** The .cpuprofile written on exit when profiling. */
  profile(): string | undefined;
}

export interface ChildOptions {
  /** Directory for a V8 CPU profile (node --cpu-prof), written when the child exits. */
  cpuProfileDir?: string;
  label: string;
}

const readRss = (pid: number): number => {
  try {
    const kb = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)\s+kB/)?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
};

/** utime + stime of a process from /proc/<pid>/stat, in ms (clock ticks of 10 ms, Linux's USER_HZ). */
const readCpuMs = (pid: number): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
};

/** Starts bench/children/<script>.ts in its own Node process (TypeScript through ts-node, no type check). */
export function startChild(script: string, init: Record<string, unknown>, options: ChildOptions): BenchChild {
  const logFile = join(os.tmpdir(), `bench-${options.label}-${process.pid}-${Date.now()}.log`);
  const out = openSync(logFile, 'a');
  const execArgv = ['-r', 'ts-node/register/transpile-only'];
  if (options.cpuProfileDir) {
    mkdirSync(options.cpuProfileDir, { recursive: true });
    execArgv.push('--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir, '--cpu-prof-name', `${options.label}-${Date.now()}.cpuprofile`);
  }
  const proc: ChildProcess = fork(join(__dirname, '..', 'children', `${script}.ts`), [], {
    execArgv,
    stdio: ['ignore', out, out, 'ipc'],
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' },
  });
  const waiting = new Map<string, ((message: Record<string, unknown>) => void)[]>();
  const received = new Map<string, Record<string, unknown>>();
  let exited = false;
  const exit = new Promise<void>((resolve) => proc.once('exit', () => ((exited = true), resolve())));
  proc.on('message', (message: Record<string, unknown>) => {
    const type = String(message.type);
    const handlers = waiting.get(type);
    if (handlers?.length) handlers.shift()!(message);
    else received.set(type, message);
  });
  proc.send({ type: 'init', ...init });
  let peak = 0;
  const profileName = () => {
    if (!options.cpuProfileDir) return undefined;
    const name = readdirSync(options.cpuProfileDir).find((f) => f.startsWith(`${options.label}-`) && f.endsWith('.cpuprofile'));
    return name ? join(options.cpuProfileDir, name) : undefined;
  };
  return {
    pid: proc.pid!,
    logFile,
    next<T>(type: string, timeoutMs = 60000): Promise<T> {
      const early = received.get(type);
      if (early) {
        received.delete(type);
        return Promise.resolve(early as T);
      }
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${options.label}: no "${type}" within ${timeoutMs} ms (see ${logFile})`)),
          timeoutMs,
        );
        const onExit = () => reject(new Error(`${options.label} exited before "${type}" (see ${logFile})`));
        proc.once('exit', onExit);
        const list = waiting.get(type) ?? [];
        list.push((message) => {
          clearTimeout(timer);
          proc.off('exit', onExit);
          resolve(message as T);
        });
        waiting.set(type, list);
      });
    },
    peakRss: () => peak,
    rss: () => readRss(proc.pid!),
    cpuMs: () => readCpuMs(proc.pid!),
    sampleRss() {
      const timer = setInterval(() => (peak = Math.max(peak, readRss(proc.pid!))), 200);
      peak = Math.max(peak, readRss(proc.pid!));
      return { stop: () => clearInterval(timer) };
    },
    async stop() {
      if (exited) return;
      proc.send({ type: 'stop' });
      const killer = setTimeout(() => proc.kill('SIGKILL'), 15000);
      await exit;
      clearTimeout(killer);
    },
    async kill() {
      if (exited) return;
      proc.kill('SIGKILL');
      await exit;
    },
    profile: profileName,
  };
}

/** In a child: waits for the parent's init message, and calls `onStop` then exits on its stop message. */
export function childMain<T>(run: (init: T, send: (message: Record<string, unknown>) => void) => Promise<() => Promise<void>>): void {
  const send = (message: Record<string, unknown>) => process.send?.(message);
  process.on('message', (message: { type: string } & T) => {
    if (message.type === 'init') {
      run(message, send)
        .then((close) => {
          process.on('message', (m: { type: string }) => {
            if (m.type !== 'stop') return;
            close()
              .catch((error) => process.stderr.write(`close failed: ${(error as Error).stack}\n`))
              .finally(() => process.exit(0));
          });
          send({ type: 'started' });
        })
        .catch((error) => {
          process.stderr.write(`${(error as Error).stack ?? error}\n`);
          process.exit(1);
        });
    }
  });
  process.on('disconnect', () => process.exit(0));
}
