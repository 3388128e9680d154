import { isIP } from 'node:net';
import { ValidateBy } from 'class-validator';

/**
 * The checks a setting of AppConfig can carry, each with one message that names the variable and
 * says what it takes; and the transforms from environment text they expect.
 */

/** Environment text to what the checks below take: an integer, a boolean, a list (anything else is left for the check to refuse). */
export const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
export const toBool = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  return value;
};
export const toList = ({ value }: { value: unknown }) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : value;

/**
 * One check and one message per setting, right whatever the value: `PORT=abc` and `PORT=70000`
 * both read "PORT must be an integer from 0 to 65535" (class-validator's stacked IsInt/Min/Max
 * reported the Max for "abc").
 */
export function IntegerIn(min: number, max?: number) {
  const range = max === undefined ? `of at least ${min}` : `from ${min} to ${max}`;
  const unitOf = (name: string) => (name.endsWith('_MS') ? ' (milliseconds)' : name.endsWith('_SECONDS') ? ' (seconds)' : '');
  return ValidateBy({
    name: 'integerIn',
    validator: {
      validate: (value) => Number.isSafeInteger(value) && (value as number) >= min && (max === undefined || (value as number) <= max),
      defaultMessage: (args) => `${args?.property} must be an integer ${range}${unitOf(args?.property ?? '')}`,
    },
  });
}

export function Flag() {
  return ValidateBy({
    name: 'flag',
    validator: {
      validate: (value) => typeof value === 'boolean',
      defaultMessage: (args) => `${args?.property} must be true or false (or 1/0, yes/no)`,
    },
  });
}

const HOST_PORT = /^[^\s:,]+:(\d{1,5})$/;

/** A list of host:port with real ports (Kafka brokers, Redis Cluster seed nodes). */
export function HostPortList(example: string) {
  return ValidateBy({
    name: 'hostPortList',
    validator: {
      validate: (value) =>
        Array.isArray(value) &&
        value.length > 0 &&
        value.every((b) => {
          const port = typeof b === 'string' ? HOST_PORT.exec(b)?.[1] : undefined;
          return port !== undefined && Number(port) >= 1 && Number(port) <= 65535;
        }),
      defaultMessage: (args) => `${args?.property} must be a comma-separated list of host:port (port 1 to 65535), e.g. ${example}`,
    },
  });
}

/** A redis:// or rediss:// URL that the client can actually parse (a port out of range crashed it at start-up). */
export function RedisUrl() {
  return ValidateBy({
    name: 'redisUrl',
    validator: {
      validate: (value) => {
        if (typeof value !== 'string' || !/^rediss?:\/\//.test(value)) return false;
        try {
          return new URL(value).hostname !== '';
        } catch {
          return false;
        }
      },
      defaultMessage: (args) =>
        typeof args?.value === 'string' && /^rediss?:\/\//.test(args.value)
          ? `${args.property} must be a redis:// or rediss:// URL with a host and a port from 1 to 65535, e.g. redis://redis:6379`
          : `${args?.property} must be a redis:// or rediss:// URL`,
    },
  });
}

/** Fastify's trustProxy: true, false, a hop count, or proxies as IP addresses, subnets (CIDR) or proxy-addr's names. */
export function TrustedProxies() {
  const isProxy = (item: string) => {
    const [address, prefix, ...rest] = item.split('/');
    if (rest.length > 0) return false;
    if (prefix !== undefined) {
      // A subnet: its prefix length must fit the address (proxy-addr throws at start-up otherwise).
      const bits = isIP(address) === 6 ? 128 : 32;
      return isIP(address) !== 0 && /^\d{1,3}$/.test(prefix) && Number(prefix) >= 1 && Number(prefix) <= bits;
    }
    return isIP(address) !== 0 || ['loopback', 'linklocal', 'uniquelocal'].includes(address);
  };
  return ValidateBy({
    name: 'trustedProxies',
    validator: {
      validate: (value) =>
        typeof value === 'string' && (/^(true|false|\d{1,2})$/.test(value) || value.split(',').every((item) => isProxy(item.trim()))),
      defaultMessage: (args) =>
        `${args?.property} must be true, false, a hop count or a comma-separated list of proxy addresses, subnets (10.0.0.0/8: a prefix of 1 to 32 bits, 1 to 128 for IPv6) or loopback/linklocal/uniquelocal`,
    },
  });
}
