import type { DestinationStream } from 'pino';
import { apiTokens } from '../auth/api-token.hook';
import { AppConfig } from '../config/app-config';

/** Shorter values are not scrubbed: replacing every "ab" in every line would garble the logs. */
const MIN_SECRET_LENGTH = 4;
const REDACTED = '[REDACTED]';

/** The secret values of a configuration: API token, SASL password, Redis URL password (as written and decoded). */
export function secretsOf(config: AppConfig): string[] {
  const secrets = [...apiTokens(config.API_TOKEN ?? ''), config.KAFKA_SASL_PASSWORD];
  try {
    const { password } = new URL(config.REDIS_URL);
    if (password) secrets.push(password, decodeURIComponent(password));
  } catch {
    /* loadConfig already checked the scheme; an unparsable URL has no password to find */
  }
  const found = secrets.filter((s): s is string => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH);
  // Also their JSON-escaped forms, as they would appear inside a serialized log line.
  return [...new Set(found.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))].sort((a, b) => b.length - a.length);
}

/** Replaces every occurrence of the secrets in `text`. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  return out;
}

/**
 * Where the log lines go: stdout, with any configured secret value replaced by [REDACTED] whatever
 * logged it (an error message quoting a URL, a kafkajs log, a header). pino's `redact` covers known
 * paths such as the Authorization header; this covers the values wherever they turn up.
 * process.stdout writes are synchronous for files and pipes, so the last lines survive process.exit.
 */
export function scrubbingStdout(secrets: readonly string[]): DestinationStream {
  return { write: (line: string) => void process.stdout.write(secrets.length > 0 ? scrubSecrets(line, secrets) : line) };
}
