/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  // Tests live in test/ (and the broker package's own); testkit/ is what they import, compiled by ts-jest, never run as tests.
  roots: ['<rootDir>/test', '<rootDir>/packages/embedded-kafka/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': 'ts-jest',
    // content-disposition 3 (a dependency of @fastify/static) ships only as an ES module: Node 26 require()s it,
    // jest's module loader does so only behind --experimental-vm-modules, so jest compiles it to CommonJS.
    '/node_modules/content-disposition/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!content-disposition/)'],
  testTimeout: 60000,
  // A suite that fails in its setup (a cluster that could not start) may leave servers and clients behind: the run
  // reports the failure and ends instead of waiting for them (a green run has no open handles either way).
  forceExit: true,
  // Picks Kafka and Redis for the run (given, containers or local: testkit/backends.ts).
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  // Nest's log lines outside an app name their test file, without colour codes off a terminal.
  setupFilesAfterEnv: ['<rootDir>/test/attribute-logs.ts'],
};
