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
 * Sends prebuilt command buffers over one connection, keeping `window` buffers in flight, and
 * counts the replies (every command must answer with a one-line reply: integer or error).
 * No decoding, no validation: the closest a client gets to Redis's own limit.
 */
export async function blast(port: number, buffers: readonly { bytes: Buffer; commands: number }[], window = 2): Promise<{ replies: number; errors: number }> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const total = buffers.reduce((s, b) => s + b.commands, 0);
  let replies = 0;
  let errors = 0;
  let atLineStart = true;
  let sent = 0;
  let answered = 0; // buffers fully answered
  let boundary = buffers[0]?.commands ?? 0;
  return new Promise((resolve, reject) => {
    const pump = () => {
      while (sent < buffers.length && sent - answered < window) socket.write(buffers[sent++].bytes);
    };
    socket.on('data', (data: Buffer) => {
      for (let i = 0; i < data.length; i++) {
        const byte = data[i];
        if (atLineStart && byte === 0x2d /* - */) errors++;
        atLineStart = byte === 0x0a;
        if (byte === 0x0a) replies++;
      }
      while (answered < buffers.length && replies >= boundary) {
        answered++;
        boundary += buffers[answered]?.commands ?? 0;
      }
      if (replies >= total) {
        socket.end();
        resolve({ replies, errors });
      } else pump();
    });
    socket.on('error', reject);
    pump();
  });
}
