import { relative } from 'node:path';
import { ConsoleLogger, Logger } from '@nestjs/common';

/**
 * Run before each test file (jest.config.js setupFilesAfterEnv). Services a test builds without a
 * Nest app (the state harness, the property tests) log through Nest's default ConsoleLogger, which
 * writes straight to stdout: jest cannot say which file a line comes from, and the logger colours it
 * whether or not stdout is a terminal. Here each line names its test file, e.g.
 * `[test/integration/state-rules.test.ts] 4242  - … WARN [VoiceService] …`, in colour only on a
 * terminal. An app a test starts replaces it with the service's own JSON logger.
 */
const testFile = relative(process.cwd(), expect.getState().testPath ?? 'unknown test file');
Logger.overrideLogger(new ConsoleLogger({ prefix: testFile, colors: process.stdout.isTTY === true }));
