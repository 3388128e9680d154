import { Logger } from '@nestjs/common';
import { ApplySteps, FollowUpBatch, scriptFailure } from './apply-steps';
import { SCRIPTS, ScriptName, StateScripts } from './state-scripts';
import { BucketRunner } from './state-types';

/** Outbox entries older than this were left by a crash and are applied by the upkeep. */
const OUTBOX_GRACE_MS = 5000;
/** Versions that say "absent" are forgotten after this (seconds; see prune-versions.lua), a bounded step at a time. */
const ABSENT_VERSION_TTL_SECONDS = 3600;
const UPKEEP_STEP = 500;

/**
 * The scripts run in every bucket, a bounded step each: RESETs, lease expiry, the voice grace
 * period, and the upkeep (follow-ups left in the outboxes, old versions). Their follow-ups are
 * settled as an apply's are (ApplySteps).
 */
export class BucketSweeps {
  private readonly log = new Logger('StateStore');

  constructor(
    private readonly runner: BucketRunner,
    private readonly scripts: StateScripts,
    private readonly steps: ApplySteps,
  ) {}

  /** One bounded step of lease expiry (per bucket); returns how many sessions it ended. */
  async expireSessionsStep(step: number): Promise<number> {
    const replies = await this.runEverywhere('expireSessions', [step]);
    return replies.reduce((sum, [ended]) => sum + Number(ended), 0);
  }

  /** One bounded step of the voice grace period (per bucket); returns how many users' grace ran out and how many seats ended. */
  async expireVoiceGraceStep(step: number): Promise<{ users: number; seats: number }> {
    const replies = await this.runEverywhere('expireVoiceGrace', [step]);
    return replies.reduce((sum, [users, seats]) => ({ users: sum.users + Number(users), seats: sum.seats + Number(seats) }), {
      users: 0,
      seats: 0,
    });
  }

  /** Follow-ups older than OUTBOX_GRACE_MS still in an outbox: their producer died before applying them. Applied now. */
  async drainOutboxes(): Promise<void> {
    const layout = this.runner.layout;
    const cutoff = String((Date.now() - OUTBOX_GRACE_MS) * 1000);
    const replies = await this.runner.runInBuckets(
      layout.buckets.map((bucket) => ({
        bucket,
        queue: (p) => p.zrangebyscore(layout.outbox(bucket), '-inf', cutoff, 'LIMIT', 0, UPKEEP_STEP),
      })),
    );
    const batches: FollowUpBatch[] = [];
    replies.forEach(([error, texts], i) => {
      if (!error && (texts as string[]).length > 0)
        batches.push({ bucket: layout.buckets[i], texts: texts as string[], kept: texts as string[] });
    });
    if (batches.length === 0) return;
    await this.steps.settle(batches);
    this.log.warn(
      `Applied ${batches.reduce((n, b) => n + b.texts.length, 0)} follow-ups left in the outboxes (an instance stopped between the steps of an apply)`,
    );
  }

  /** Forgets a bounded step of old "absent" versions in every bucket (cluster; prune-versions.lua). */
  async pruneVersions(): Promise<void> {
    await this.runEverywhere('pruneVersions', [ABSENT_VERSION_TTL_SECONDS, UPKEEP_STEP]);
  }

  /** A script run once in every bucket (sweeps); its follow-ups settled. Returns each bucket's reply without the follow-ups. */
  private async runEverywhere(name: ScriptName, args: readonly (string | number)[]): Promise<unknown[][]> {
    const layout = this.runner.layout;
    const replies = await this.runner.runInBuckets(
      layout.buckets.map((bucket) => ({ bucket, queue: (p) => this.scripts.queue(p, name, bucket, args) })),
    );
    const results: unknown[][] = [];
    const batches: FollowUpBatch[] = [];
    replies.forEach(([error, reply], i) => {
      if (error) throw scriptFailure(`${SCRIPTS[name]}.lua`, error);
      if (!Array.isArray(reply)) return void results.push([reply]); // no follow-ups (prune-versions)
      const values = [...(reply as unknown[])];
      const [texts, kept] = values.pop() as [string[], string[]];
      if (texts.length > 0) batches.push({ bucket: layout.buckets[i], texts, kept });
      results.push(values);
    });
    await this.steps.settle(batches);
    return results;
  }

  /** One step of a RESET in every bucket not done yet; the cursor lists "bucket:sscan-cursor" of those (see StateStore.endServerSessionsStep). */
  async bucketScanStep(
    name: 'resetServerSessions' | 'resetVoiceServer',
    serverId: string,
    resetAtMs: number,
    cursor: string,
    step: number,
  ): Promise<{ cursor: string; ended: number }> {
    const pending: [number, string][] =
      cursor === '0'
        ? this.runner.layout.buckets.map((b) => [b, '0'])
        : cursor.split(',').map((part) => {
            const [bucket, at] = part.split(':');
            return [Number(bucket), at];
          });
    const replies = await this.runner.runInBuckets(
      pending.map(([bucket, at]) => ({ bucket, queue: (p) => this.scripts.queue(p, name, bucket, [serverId, resetAtMs, at, step]) })),
    );
    const next: string[] = [];
    const batches: FollowUpBatch[] = [];
    let ended = 0;
    replies.forEach(([error, reply], i) => {
      if (error) throw scriptFailure(`${SCRIPTS[name]}.lua`, error);
      const [nextCursor, count, [texts, kept]] = reply as [string, number, [string[], string[]]];
      ended += Number(count);
      if (texts.length > 0) batches.push({ bucket: pending[i][0], texts, kept });
      if (nextCursor !== '0') next.push(`${pending[i][0]}:${nextCursor}`);
    });
    await this.steps.settle(batches);
    return { cursor: next.length > 0 ? next.join(',') : '0', ended };
  }
}
