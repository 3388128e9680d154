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
  expect({
    finalDifferences: result.finalDifferences,
    wrongAnswers: result.wrongAnswers,
    earlyLabelsOutsideKillWindow: result.earlyLabelsOutsideKillWindow,
    log: lines,
  }).toEqual({ finalDifferences: [], wrongAnswers: [], earlyLabelsOutsideKillWindow: [], log: lines });
  // Something was judged: the route waited to the end for some answers.
  expect(result.answers.judged).toBeGreaterThan(0);
}, 300000);
