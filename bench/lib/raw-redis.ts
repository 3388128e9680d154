import { createHash } from 'node:crypto';
import net from 'node:net';

/** RESP encoding of one command. */
export function resp(args: readonly (string | number)[]): Buffer {
  const parts: string[] = [`*${args.length}\r\n`];
  for (const a of args) {
    const s = String(a);
    parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
  }
  return Buffer.from(parts.join(''));
}

export const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/**
 * Counts complete top-level RESP2 replies in a byte stream (any shape: integers, errors, bulk
 * strings, nested arrays), carrying partial replies over from one chunk to the next.
 */
class ReplyCounter {
  private pending: Buffer = Buffer.alloc(0);
  replies = 0;
  errors = 0;

  feed(data: Buffer): void {
    const buf: Buffer = this.pending.length > 0 ? Buffer.concat([this.pending, data]) : data;
    let pos = 0;
    for (;;) {
      const end = this.skip(buf, pos);
      if (end < 0) break;
      if (buf[pos] === 0x2d) this.errors++;
      this.replies++;
      pos = end;
    }
    this.pending = buf.subarray(pos);
  }

  /** End offset of the reply starting at pos, or -1 if it is not complete yet. */
  private skip(buf: Buffer, pos: number): number {
    if (pos >= buf.length) return -1;
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return -1;
    const type = buf[pos];
    const n = Number(buf.toString('latin1', pos + 1, eol));
    let next = eol + 2;
    if (type === 0x24 /* $ */) {
      if (n < 0) return next;
      return next + n + 2 <= buf.length ? next + n + 2 : -1;
    }
    if (type === 0x2a /* * */) {
      for (let i = 0; i < n; i++) {
        next = this.skip(buf, next);
        if (next < 0) return -1;
      }
      return next;
    }
    return next;
  }
}

/**
 * Sends prebuilt command buffers over one connection, keeping `window` buffers in flight, and
 * counts the replies. No decoding, no validation: the closest a client gets to Redis's own limit.
 */
export async function blast(
  port: number,
  buffers: readonly { bytes: Buffer; commands: number }[],
  window = 2,
): Promise<{ replies: number; errors: number }> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const total = buffers.reduce((s, b) => s + b.commands, 0);
  const counter = new ReplyCounter();
  let sent = 0;
  let answered = 0; // buffers fully answered
  let boundary = buffers[0]?.commands ?? 0;
  return new Promise((resolve, reject) => {
    const pump = () => {
      while (sent < buffers.length && sent - answered < window) socket.write(buffers[sent++].bytes);
    };
    socket.on('data', (data: Buffer) => {
      counter.feed(data);
      while (answered < buffers.length && counter.replies >= boundary) {
        answered++;
        boundary += buffers[answered]?.commands ?? 0;
      }
      if (counter.replies >= total) {
        socket.end();
        resolve({ replies: counter.replies, errors: counter.errors });
      } else pump();
    });
    socket.on('error', reject);
    pump();
  });
}
