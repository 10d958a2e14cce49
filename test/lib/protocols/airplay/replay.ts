/**
 * Replaying recorded AirPlay sessions over real loopback sockets: a server that answers each
 * request with the next recorded response (for our client), and a raw client that sends
 * recorded request bytes and reads the answers, in clear or as HAP blocks (for our simulator).
 */
import net from 'node:net';
import { HttpMessageDecoder, type HttpRequest, type HttpResponse } from '../../../../lib/codecs/http';
import { CounterNonceCipher } from '../../../../lib/hap/channel';
import { FrameCodec, HAP_BLOCKS } from '../../../../lib/support/frames';

export interface ReplayServer {
  port: number;
  /** Every byte the client sent, in order. */
  received(): Buffer;
  /** The requests decoded so far. */
  requests: HttpRequest[];
  close(): Promise<void>;
}

/** Answers request n with `responses[n]` (raw bytes); past the end, it stays silent. */
export async function replayServer(responses: readonly Buffer[]): Promise<ReplayServer> {
  const chunks: Buffer[] = [];
  const requests: HttpRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const decoder = HttpMessageDecoder.forRequests();
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      let decoded: HttpRequest[];
      try {
        decoded = decoder.push(chunk);
      } catch {
        return; // Encrypted bytes after the plaintext part: only recorded.
      }
      for (const request of decoded) {
        const answer = responses[requests.length];
        requests.push(request);
        if (answer) socket.write(answer);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    received: () => Buffer.concat(chunks),
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A raw TCP client: sends bytes as recorded, reads answers in clear or decrypted. */
export class RawClient {
  private readonly plain = HttpMessageDecoder.forResponses();
  private codec: FrameCodec | null = null;
  private readonly queue: HttpResponse[] = [];
  private waiter: (() => void) | null = null;
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      const plaintexts: Buffer[] = [];
      if (this.codec) this.codec.push(chunk, (frame) => plaintexts.push(frame.payload));
      else plaintexts.push(chunk);
      for (const bytes of plaintexts) this.queue.push(...this.plain.push(bytes));
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** From now on, answers arrive as HAP blocks sealed with `decryptKey` (the device's write key). */
  decryptWith(decryptKey: Buffer): void {
    this.codec = new FrameCodec(HAP_BLOCKS);
    // Only opening is used; the encrypt key is a placeholder.
    this.codec.switchTo(HAP_BLOCKS, new CounterNonceCipher({ encryptKey: Buffer.alloc(32), decryptKey }, 'zeros-then-counter'));
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next answer (rejects after `timeout` ms or when the connection closes first). */
  async response(timeout = 5000): Promise<HttpResponse> {
    const end = Date.now() + timeout;
    while (this.queue.length === 0) {
      if (this.closed) throw new Error('the connection closed before an answer');
      if (Date.now() > end) throw new Error('no answer in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
    return this.queue.shift()!;
  }

  close(): void {
    this.socket.destroy();
  }
}
