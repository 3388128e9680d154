import { requestLogLevel } from '../../src/logging/request-logging';

/** HTTP_LOG: which requests get a line, at which level (LOG_LEVEL then decides whether it is written). */
describe("the level of a request's log line", () => {
  const SLOW = 100;

  it('by default (errors-and-slow) logs at info every answer that is not a 2xx and every slow request, the rest at debug', () => {
    const level = (status: number, ms: number, probe = false) => requestLogLevel('errors-and-slow', SLOW, status, ms, probe);
    expect(level(200, 3)).toBe('debug');
    expect(level(200, 3, true)).toBe('debug');
    expect(level(200, 101)).toBe('info');
    expect(level(400, 1)).toBe('info');
    expect(level(401, 1)).toBe('info');
    expect(level(429, 1)).toBe('info');
    expect(level(304, 1)).toBe('info');
    expect(level(503, 1)).toBe('info');
    expect(level(500, 1)).toBe('error');
  });

  it('with all, logs every request at info but successful probes and scrapes at debug', () => {
    const level = (status: number, probe = false) => requestLogLevel('all', SLOW, status, 1, probe);
    expect(level(200)).toBe('info');
    expect(level(200, true)).toBe('debug');
    expect(level(503, true)).toBe('info');
    expect(level(502)).toBe('error');
  });

  it('with off, logs nothing', () => {
    for (const status of [200, 404, 500]) expect(requestLogLevel('off', SLOW, status, 1000, false)).toBeUndefined();
  });
});
