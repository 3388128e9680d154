import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * Preloaded into the built service by fault tests (ServiceProcess's `fault: 'exit-between-steps'`,
 * `node -r`), never imported: on Redis Cluster the process exits (code 70) right after the first
 * step of an apply, as soon as there are follow-ups to apply in other buckets and before any of
 * them is sent, as a crash at that point would leave it (test/faults/cluster-steps.test.ts).
 *
 * It wraps the ApplySteps of dist/ that main.js is about to load (Node caches the module by path,
 * so the service gets this very class): its `settle`, which applies the follow-ups the first step
 * returned.
 */
interface SettlingSteps {
  settle(batches: readonly unknown[]): Promise<void>;
}

const stepsModule = join(__dirname, '..', '..', 'dist', 'state-store', 'apply-steps.js');
const { ApplySteps } = createRequire(__filename)(stepsModule) as { ApplySteps: { prototype: SettlingSteps } };
const settle = ApplySteps.prototype.settle;
if (typeof settle !== 'function') throw new Error(`exit-between-steps: ApplySteps in ${stepsModule} has no settle() to wrap any more`);

ApplySteps.prototype.settle = function (this: SettlingSteps, batches: readonly unknown[]): Promise<void> {
  if (batches.length > 0) {
    process.stderr.write('exit-between-steps: exiting after the first step, before its follow-ups\n');
    process.exit(70);
  }
  return settle.call(this, batches);
};
