/**
 * Bounded soak (the engine: testkit/soak.ts): the built service under steady load with faults
 * injected on a schedule, checked against the reference model. Not in CI (a --short run is, via
 * test/faults/soak.test.ts).
 *
 *   npm run soak                      5 minutes
 *   npm run soak -- --minutes 20
 *   npm run soak -- --short           ~30 s
 *   options: --rate <events/s> (default 400), --seed <n>
 *   npm run soak -- --platform        the platform simulation (testkit/platform-simulation.ts), 5 minutes
 *   options: --minutes, --users (default 1500), --rate <user actions/s> (default users/7), --seed
 *
 * Exits 1 on any divergence or missing dead letter (--platform: a final state other than the truth,
 * a wrong judged answer, or a stalled/rebuilding answer outside the kill window).
 */
import { runPlatformSimulation } from '../testkit/platform-simulation';
import { runSoak, SoakOptions } from '../testkit/soak';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const short = process.argv.includes('--short');
const options: SoakOptions = {
  seconds: short ? 30 : Number(flag('minutes') ?? 5) * 60,
  rate: Number(flag('rate') ?? 400),
  seed: Number(flag('seed') ?? Date.now() % 100000),
  faultEvery: short ? 4 : 30,
  log: (line) => console.log(line),
};
const users = Number(flag('users') ?? 1500);
const run = process.argv.includes('--platform')
  ? runPlatformSimulation({ ...options, users, actionsPerSecond: Number(flag('rate') ?? Math.round(users / 7)) }).then(
      (r) => r.finalDifferences.length + r.wrongAnswers.length + r.earlyLabelsOutsideKillWindow.length === 0,
    )
  : runSoak(options).then((r) => r.divergence === 0 && r.deadLettersMissing === 0);
run.then(
  (ok) => process.exit(ok ? 0 : 1),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
