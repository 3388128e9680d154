import { Injectable, OnApplicationShutdown } from '@nestjs/common';

/** How often every periodic step runs. */
const TICK_MS = 1000;

/**
 * The process's one timer: once a second it runs every periodic step registered here - the
 * Redis watch and the store's upkeep, the state-loss watch, the lease expiry and voice grace sweeps.
 * A step still running from the last tick is not started again; each catches its own failures
 * (Redis down: the next tick tries again). The timer does not keep the process alive.
 */
@Injectable()
export class PeriodicSteps implements OnApplicationShutdown {
  private readonly steps: { name: string; run: () => Promise<void>; running: boolean }[] = [];
  private timer?: NodeJS.Timeout;
  private stopped = false;

  /** Runs `run` every second from now on (until shutdown). */
  every(name: string, run: () => Promise<void>): void {
    if (this.stopped) return;
    this.steps.push({ name, run, running: false });
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), TICK_MS);
      this.timer.unref();
    }
  }

  onApplicationShutdown(): void {
    this.stop();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    for (const step of this.steps) {
      if (step.running) continue;
      step.running = true;
      step
        .run()
        .catch(() => undefined)
        .finally(() => (step.running = false));
    }
  }
}
