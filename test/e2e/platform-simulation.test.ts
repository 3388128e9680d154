import { runPlatformSimulation } from '../../testkit/platform-simulation';

/**
 * The platform at random for about a minute (testkit/platform-simulation.ts): chat and signaling
 * servers as their code behaves, two instances of the service, one SIGKILLed and restarted. What
 * every user sees must be the truth: the final state equals the sockets really open, and every
 * DISCONNECT answer that waited to the end is right when the CONNECT deciding it was already in
 * Kafka. Another run of the same traffic: PLATFORM_SIM_SEED=<seed printed below>.
 */
const seed = Number(process.env.PLATFORM_SIM_SEED ?? Math.floor(Math.random() * 1_000_000));

it(`shows the truth to every user of a platform at random (seed ${seed})`, async () => {
  const lines: string[] = [];
  const result = await runPlatformSimulation({
    seed,
    seconds: 45,
    users: 300,
    actionsPerSecond: 40,
    log: (line) => {
      lines.push(line);
      console.log(line);
    },
  });
  // (the log is in the comparison so that a failure shows it with the seed)
  expect({ finalDifferences: result.finalDifferences, wrongAnswers: result.wrongAnswers, log: lines }).toEqual({
    finalDifferences: [],
    wrongAnswers: [],
    log: lines,
  });
  // Outside the kill window an owner is alive: an answer labelled early (stalled, rebuilding) there
  // is never wrong, only cut short, and comes from an owner paused over 100 ms (STALL_MS) on a
  // starved machine (0-3 of ~900 answers on a quiet 2-core machine, up to 7 % at load 13). Printed
  // above; more than 2 % of the answers means the early exits misfire.
  expect(result.earlyLabelsOutsideKillWindow.length).toBeLessThanOrEqual(Math.ceil(result.answers.total * 0.02));
  // Something was judged: the route waited to the end for some answers.
  expect(result.answers.judged).toBeGreaterThan(0);
}, 300000);
