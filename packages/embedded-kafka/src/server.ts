/**
 * TCP side of the broker: size-prefixed framing, request header parsing and
 * strict in-order handling per connection (librdkafka pipelines requests and
 * matches answers by order as well as correlation id).
 */
import net from 'node:net';
import { APIS_BY_KEY, SUPPORTED_APIS } from './apis';
import { encodeApiVersions } from './apis/api-versions';
import { BrokerContext, RequestHeader } from './broker-context';
import { ErrorCode } from './error-codes';
import { MalformedRequestError, Reader, Writer } from './protocol';

/** Largest request accepted (Kafka's socket.request.max.bytes default is 100 MiB). */
const MAX_FRAME_BYTES = 100 * 1024 * 1024;
/** Stop reading from a socket that has this many requests waiting, until it catches up. */
const MAX_QUEUED_REQUESTS = 64;
const API_VERSIONS_KEY = 18;

export class Connection {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly queue: Buffer[] = [];
  private processing = false;
  private closed = false;
  private readonly clientHost: string;

  constructor(
    private readonly socket: net.Socket,
    private readonly broker: BrokerContext,
  ) {
    this.clientHost = `/${socket.remoteAddress ?? 'unknown'}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 4) {
      const size = this.peekInt32();
      if (size < 8 || size > MAX_FRAME_BYTES) {
        this.broker.logger.warn(`embedded-kafka: closing ${this.clientHost}: invalid frame size ${size}`);
        this.close();
        return;
      }
      if (this.buffered < 4 + size) break;
      this.queue.push(this.take(4 + size).subarray(4));
    }
    if (this.queue.length >= MAX_QUEUED_REQUESTS) this.socket.pause();
    if (!this.processing) void this.processQueue();
  }

  private peekInt32(): number {
    if (this.chunks[0].length < 4) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].readInt32BE(0);
  }

  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const all = Buffer.concat(this.chunks);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    return all.subarray(0, n);
  }

  private async processQueue(): Promise<void> {
    this.processing = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const frame = this.queue.shift()!;
        if (this.queue.length < MAX_QUEUED_REQUESTS / 2) this.socket.resume();
        await this.handle(frame);
      }
    } catch (err) {
      const reason = err instanceof MalformedRequestError ? err.message : ((err as Error).stack ?? String(err));
      this.broker.logger.warn(`embedded-kafka: closing ${this.clientHost}: ${reason}`);
      this.close();
    } finally {
      this.processing = false;
    }
  }

  private async handle(frame: Buffer): Promise<void> {
    const reader = new Reader(frame);
    const header: RequestHeader = {
      apiKey: reader.int16(),
      apiVersion: reader.int16(),
      correlationId: reader.int32(),
      clientId: '',
      clientHost: this.clientHost,
    };
    header.clientId = reader.nullableString() ?? '';

    const api = APIS_BY_KEY.get(header.apiKey);
    if (!api || header.apiVersion < api.minVersion || header.apiVersion > api.maxVersion) {
      const name = api?.name ?? `unknown API ${header.apiKey}`;
      // An ApiVersions downgrade is ordinary negotiation (librdkafka opens with v3), so only debug.
      const log =
        header.apiKey === API_VERSIONS_KEY
          ? this.broker.logger.debug?.bind(this.broker.logger)
          : this.broker.logger.warn.bind(this.broker.logger);
      log?.(
        `embedded-kafka: ${name} v${header.apiVersion} is not supported` +
          (api ? ` (supported v${api.minVersion}-${api.maxVersion})` : '') +
          `; answering UNSUPPORTED_VERSION to client '${header.clientId}'`,
      );
      // ApiVersions errors always use the v0 layout so any client can read the list.
      const body =
        header.apiKey === API_VERSIONS_KEY
          ? encodeApiVersions(SUPPORTED_APIS, 0, ErrorCode.UNSUPPORTED_VERSION)
          : new Writer().int16(ErrorCode.UNSUPPORTED_VERSION);
      await this.send(header.correlationId, body);
      return;
    }

    const body = await api.handle(reader, header, this.broker);
    if (body) await this.send(header.correlationId, body);
  }

  private send(correlationId: number, body: Writer): Promise<void> | void {
    if (this.closed) return;
    const prefix = Buffer.allocUnsafe(8);
    prefix.writeInt32BE(4 + body.length, 0);
    prefix.writeInt32BE(correlationId, 4);
    const socket = this.socket;
    socket.cork();
    let ok = socket.write(prefix);
    for (const chunk of body.toChunks()) ok = socket.write(chunk);
    socket.uncork();
    // Respect backpressure: read the next request only once the client drains this answer.
    if (!ok && !this.closed) {
      return new Promise((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
    }
  }
}
