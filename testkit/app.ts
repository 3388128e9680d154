import { INestApplication } from '@nestjs/common';
import { startApp } from '../src/app';
import { loadConfig } from '../src/config/app-config';
import { eventually } from './eventually';
import { freePort } from './free-port';

export interface RunningApp {
  app: INestApplication;
  url: string;
  /** Stops the app; calling it again waits for the same shutdown. */
  close(): Promise<void>;
}

/** Starts the whole service in this process (HTTP + Kafka consumer) with the given environment. */
export async function startTestApp(env: Record<string, string>): Promise<RunningApp> {
  const port = await freePort();
  const config = loadConfig({
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    KAFKA_HEARTBEAT_INTERVAL_MS: '500',
    LOG_LEVEL: 'warn',
    ...env,
    PORT: String(port),
  });
  const app = await startApp(config);
  app.useLogger(['error']);
  const url = `http://127.0.0.1:${port}`;
  let closing: Promise<void> | undefined;
  // Idempotent: a test may stop the app early and its stack's teardown stop it again.
  return { app, url, close: () => (closing ??= app.close()) };
}

export { eventually };

export async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  return { status: res.status, body };
}

export function postJson(url: string, body: unknown): Promise<{ status: number; body: any }> {
  return getJson(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Waits until /health/ready says the consumer joined its group and Redis answers. */
export async function waitUntilReady(url: string, timeoutMs = 30000): Promise<void> {
  await eventually(
    async () => {
      const { status } = await getJson(`${url}/health/ready`);
      if (status !== 200) throw new Error(`not ready: ${status}`);
    },
    timeoutMs,
    100,
  );
}
