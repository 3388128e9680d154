import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './free-port';

const ROOT = join(__dirname, '..');
const MAIN = join(ROOT, 'dist', 'main.js');

/** Faults a test can have injected into the built service: preloaded modules in testkit/faults/ (`node -r`), none in src/. */
export type ServiceFault = 'exit-between-steps';

export interface ServiceOptions {
  /** false: return as soon as the process is started (default: once /health/ready answers 200). */
  waitUntilReady?: boolean;
  fault?: ServiceFault;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

let built = false;

/**
 * Makes sure dist/main.js is the build of the current src/: runs `npm run build` when dist is
 * missing or older than a file in src/ (once per test process).
 */
export function ensureBuilt(): void {
  if (built) return;
  if (!existsSync(MAIN) || statSync(MAIN).mtimeMs < newestMtime(join(ROOT, 'src'))) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 120000 });
  }
  built = true;
}

/**
 * The built service (`node dist/main.js`) as a child process, as it runs in production: for tests
 * that kill it (SIGKILL, SIGTERM) and start it again on the same port and environment.
 */
export class ServiceProcess {
  private child?: ChildProcess;
  private exited?: Promise<number | null>;
  /** The last lines it wrote (stdout and stderr), for failure messages. */
  readonly output: string[] = [];

  private constructor(
    readonly url: string,
    private readonly env: Record<string, string>,
    readonly name: string,
    private readonly fault: ServiceFault | undefined,
  ) {}

  /** Starts the service with `env` (PORT is chosen here) and waits until /health/ready answers 200 (unless told not to). */
  static async start(env: Record<string, string>, name = 'service', options: ServiceOptions = {}): Promise<ServiceProcess> {
    ensureBuilt();
    const port = await freePort();
    const service = new ServiceProcess(
      `http://127.0.0.1:${port}`,
      {
        KAFKA_SESSION_TIMEOUT_MS: '6000',
        KAFKA_HEARTBEAT_INTERVAL_MS: '500',
        LOG_LEVEL: 'warn',
        RATE_LIMIT_PER_MINUTE: '1000000',
        ...env,
        PORT: String(port),
      },
      name,
      options.fault,
    );
    await service.restart(options);
    return service;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts it (again) with the same port and environment; waits until ready unless told not to. */
  async restart(options: { waitUntilReady?: boolean } = {}): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const preload = this.fault ? ['-r', 'ts-node/register/transpile-only', '-r', join(__dirname, 'faults', `${this.fault}.ts`)] : [];
    const child = spawn(process.execPath, [...preload, MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const keep = (chunk: Buffer) => {
      this.output.push(...chunk.toString().split('\n').filter(Boolean));
      if (this.output.length > 200) this.output.splice(0, this.output.length - 200);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    if (options.waitUntilReady !== false) await this.waitUntilReady();
  }

  /** Polls /health/ready until 200; fails early, with its output, if the process exits. */
  async waitUntilReady(timeoutMs = 30000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`${this.name} exited while starting:\n${this.output.join('\n')}`);
      if ((await this.status('/health/ready')) === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.output.slice(-30).join('\n')}`);
  }

  /** HTTP status of GET path, or 0 when nothing answers. */
  async status(path: string): Promise<number> {
    try {
      const res = await fetch(this.url + path, { signal: AbortSignal.timeout(3000) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  /** Sends the signal and waits for the process to exit; returns its exit code (null when killed by the signal). */
  async kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<number | null> {
    if (!this.running) return this.child?.exitCode ?? null;
    this.child!.kill(signal);
    return this.exited!;
  }

  /** Stops it if still running (SIGTERM, then SIGKILL after 15 s). */
  async stop(): Promise<void> {
    if (!this.running) return;
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 15000);
    await this.kill('SIGTERM');
    clearTimeout(timer);
  }
}
