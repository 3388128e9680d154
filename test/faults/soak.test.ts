import { runSoak } from '../../testkit/soak';

/** The short soak (testkit/soak.ts, as tools/soak.ts --short runs it): ~30 s of load with a service kill, a Redis loss and a RESET. */
it('stays equal to the model through 30 s of load and faults', async () => {
  const lines: string[] = [];
  const result = await runSoak({
    seconds: 30,
    rate: 300,
    seed: 7,
    faultEvery: 4,
    catchUpTimeoutMs: 20000,
    log: (line) => lines.push(line),
  });
  // (the log is in the comparison so that a failure shows it)
  expect({ divergence: result.divergence, missingDeadLetters: result.deadLettersMissing, log: lines }).toEqual({
    divergence: 0,
    missingDeadLetters: 0,
    log: lines,
  });
  expect(result.deadLettersSent).toBeGreaterThan(0);
  expect(result.faults).toEqual(
    expect.arrayContaining(['service SIGKILL', 'Redis kill + empty restart + self-healing rebuild', 'chat-server RESET']),
  );
}, 200000);
