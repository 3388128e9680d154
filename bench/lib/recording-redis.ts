import Redis from 'ioredis';
import { resp, sha1 } from './raw-redis';

/**
 * Wraps a fresh ioredis client so that what the StateStore sends is recorded while it runs for
 * real: the Lua source of each script (defineCommand) and every script or function call (FCALL) with its exact
 * arguments, grouped by pipeline (one group = one round trip). Lets the bench replay the service's
 * own Redis traffic with no client-side work, to find Redis's limit.
 */
export function recordingRedis(real: Redis) {
  const scripts = new Map<string, string>();
  const pipelines: { command: string; args: (string | number)[] }[][] = [];
  const client = new Proxy(real, {
    get(target, prop) {
      if (prop === 'defineCommand') {
        return (name: string, definition: { lua: string; numberOfKeys?: number }) => {
          scripts.set(name, definition.lua);
          return target.defineCommand(name, definition);
        };
      }
      if (prop === 'pipeline') {
        return () => {
          const pipeline = target.pipeline();
          const calls: { command: string; args: (string | number)[] }[] = [];
          pipelines.push(calls);
          return new Proxy(pipeline, {
            get(p, key) {
              const value = Reflect.get(p, key, p);
              if (typeof key === 'string' && (key.startsWith('state_') || key === 'fcall')) {
                return (...args: (string | number)[]) => {
                  calls.push({ command: key, args });
                  return value.apply(p, args);
                };
              }
              return typeof value === 'function' ? value.bind(p) : value;
            },
          });
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { client, scripts, pipelines };
}

/**
 * The recorded calls from pipeline `from` on, as replayable RESP: one buffer per round trip the
 * StateStore made (FCALL, or EVALSHA of a recorded script), with how many commands it holds.
 */
export function replayBuffers(recording: ReturnType<typeof recordingRedis>, from = 0): { bytes: Buffer; commands: number }[] {
  return recording.pipelines
    .slice(from)
    .filter((calls) => calls.length > 0)
    .map((calls) => ({
      bytes: Buffer.concat(
        calls.map((c) =>
          resp(c.command === 'fcall' ? ['FCALL', ...c.args] : ['EVALSHA', sha1(recording.scripts.get(c.command)!), 1, ...c.args]),
        ),
      ),
      commands: calls.length,
    }));
}
