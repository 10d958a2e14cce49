/**
 * What the machine allows: the floor each round-trip figure of the benchmark is shown
 * against. A floor does the least work the figure's exchange needs, on the same kind of
 * loopback connection, in the same process, with nothing of the library in it (node:net and
 * node:crypto only), so a figure divided by its floor says how much the library adds:
 *
 *  - plain TCP: the request's bytes in one write, the answer's bytes in one write once the
 *    whole request is in (a DACP request and its HTTP answer);
 *  - sealed frames: varint-length frames whose bodies are ChaCha20-Poly1305 sealed, one
 *    cipher per direction with the counter nonce MRP uses: the request frame out, opened,
 *    the answer frames sealed and written at once, each opened (an MRP command, its result
 *    and the SET_STATE the device pushes with it);
 *  - one way: the server writes unprompted and the client reads it all (a push);
 *  - connect: a TCP connection to a listening socket.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import net, { type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** One request/answer: what the client sends and what comes back, as frame bodies. */
export interface FloorExchange {
  /** Frame bodies (or raw bytes, for plain TCP) the client sends, in one write. */
  request: readonly Buffer[];
  /** What the server answers, in one write. */
  answer: readonly Buffer[];
}

export type FloorKind = 'plain' | 'sealed';

const TAG = 16;

/** A ChaCha20-Poly1305 direction with a 64-bit message counter after 4 zero bytes (MRP's nonce). */
class Direction {
  private counter = 0;
  constructor(private readonly key: Buffer) {}

  private nonce(): Buffer {
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32LE(this.counter++, 4);
    return nonce;
  }

  seal(body: Buffer): Buffer {
    const cipher = createCipheriv('chacha20-poly1305', this.key, this.nonce(), { authTagLength: TAG });
    const head = cipher.update(body);
    cipher.final();
    return Buffer.concat([head, cipher.getAuthTag()]);
  }

  open(sealed: Buffer): Buffer {
    const decipher = createDecipheriv('chacha20-poly1305', this.key, this.nonce(), { authTagLength: TAG });
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    const body = decipher.update(sealed.subarray(0, sealed.length - TAG));
    decipher.final();
    return body;
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** Cuts varint-length frames off `pending`; returns the bodies and what is left. */
function frames(pending: Buffer): { bodies: Buffer[]; rest: Buffer } {
  const bodies: Buffer[] = [];
  let at = 0;
  for (;;) {
    let length = 0;
    let shift = 0;
    let i = at;
    for (; i < pending.length; i++) {
      length += (pending[i]! & 0x7f) * 2 ** shift;
      shift += 7;
      if ((pending[i]! & 0x80) === 0) break;
    }
    if (i >= pending.length || pending.length - i - 1 < length) break;
    bodies.push(pending.subarray(i + 1, i + 1 + length));
    at = i + 1 + length;
  }
  return { bodies, rest: pending.subarray(at) };
}

/** How one side turns bodies into wire bytes and counts what arrives. */
interface Side {
  encode(bodies: readonly Buffer[]): Buffer;
  /** Takes received bytes; returns how many whole messages (frames, or bytes for plain) completed. */
  take(chunk: Buffer): number;
}

function plainSide(): Side {
  return {
    encode: (bodies) => Buffer.concat(bodies as Buffer[]),
    take: (chunk) => chunk.length,
  };
}

function sealedSide(send: Direction, receive: Direction): Side {
  let pending: Buffer = Buffer.alloc(0);
  return {
    encode: (bodies) => Buffer.concat(bodies.flatMap((body) => {
      const sealed = send.seal(body);
      return [varint(sealed.length), sealed];
    })),
    take(chunk) {
      const { bodies, rest } = frames(pending.length === 0 ? chunk : Buffer.concat([pending, chunk]));
      pending = rest;
      for (const body of bodies) receive.open(body);
      return bodies.length;
    },
  };
}

function listen(onSocket: (socket: Socket) => void): Promise<Server> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    onSocket(socket);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function dial(server: Server): Promise<Socket> {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.once('error', reject);
    socket.once('connect', () => resolve(socket));
  });
}

function close(server: Server, ...sockets: Socket[]): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Sizes in bytes of an exchange's two directions, for the table. */
export function describeExchange(exchange: FloorExchange): string {
  const size = (bodies: readonly Buffer[]): string => bodies.map((b) => b.length).join('+');
  return `${size(exchange.request)} B out, ${size(exchange.answer)} B back`;
}

/**
 * A connected pair for `kind`: `roundTrip()` sends the request and resolves once the whole
 * answer is in; `push()` has the server send the answer unprompted and resolves once it is in.
 */
export async function floorPair(kind: FloorKind, exchange: FloorExchange) {
  const keys = { up: randomBytes(32), down: randomBytes(32) };
  const makeSide = (server: boolean): Side =>
    kind === 'plain'
      ? plainSide()
      : server
        ? sealedSide(new Direction(keys.down), new Direction(keys.up))
        : sealedSide(new Direction(keys.up), new Direction(keys.down));
  const requestUnits = kind === 'plain' ? exchange.request.reduce((n, b) => n + b.length, 0) : exchange.request.length;
  const answerUnits = kind === 'plain' ? exchange.answer.reduce((n, b) => n + b.length, 0) : exchange.answer.length;

  let serverSocket: Socket | null = null;
  let serverSide: Side | null = null;
  const server = await listen((socket) => {
    serverSocket = socket;
    const side = makeSide(true);
    serverSide = side;
    let got = 0;
    socket.on('data', (chunk: Buffer) => {
      got += side.take(chunk);
      while (got >= requestUnits) {
        got -= requestUnits;
        socket.write(side.encode(exchange.answer));
      }
    });
  });
  const client = await dial(server);
  const clientSide = makeSide(false);
  let received = 0;
  let done: (() => void) | null = null;
  client.on('data', (chunk: Buffer) => {
    received += clientSide.take(chunk);
    if (received >= answerUnits && done) {
      received -= answerUnits;
      const resolve = done;
      done = null;
      resolve();
    }
  });
  while (serverSocket === null) await new Promise((r) => setImmediate(r));
  return {
    roundTrip(): Promise<void> {
      return new Promise<void>((resolve) => {
        done = resolve;
        client.write(clientSide.encode(exchange.request));
      });
    },
    push(): Promise<void> {
      return new Promise<void>((resolve) => {
        done = resolve;
        serverSocket!.write(serverSide!.encode(exchange.answer));
      });
    },
    close: () => close(server, client, serverSocket!),
  };
}

/** `count` samples (ms each) of `step` on a fresh pair, after `warmup` unmeasured ones, each after `gapMs` of quiet. */
async function floorSamples(
  kind: FloorKind,
  exchange: FloorExchange,
  step: 'roundTrip' | 'push',
  count: number,
  warmup: number,
  gapMs: number,
): Promise<number[]> {
  const pair = await floorPair(kind, exchange);
  try {
    for (let i = 0; i < warmup; i++) await pair[step]();
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      const start = performance.now();
      await pair[step]();
      samples.push(performance.now() - start);
    }
    return samples;
  } finally {
    await pair.close();
  }
}

/** `count` round trips (ms each) of `exchange` on a fresh connection, after `warmup` unmeasured ones. */
export function floorRoundTrips(kind: FloorKind, exchange: FloorExchange, count: number, warmup = 20): Promise<number[]> {
  return floorSamples(kind, exchange, 'roundTrip', count, warmup, 0);
}

/**
 * `count` one-way pushes of `exchange.answer` (ms each, server write → client has it all),
 * each after `gapMs` of quiet (as the figure it is the floor of).
 */
export function floorPushes(kind: FloorKind, exchange: FloorExchange, count: number, warmup = 20, gapMs = 0): Promise<number[]> {
  return floorSamples(kind, exchange, 'push', count, warmup, gapMs);
}

/** `count` TCP connects to a listening loopback socket (ms each, connect() → 'connect'). */
export async function floorConnects(count: number): Promise<number[]> {
  const server = await listen((socket) => socket.on('data', () => undefined));
  const samples: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const start = performance.now();
      const socket = await dial(server);
      samples.push(performance.now() - start);
      socket.destroy();
    }
  } finally {
    await close(server);
  }
  return samples;
}

/**
 * The bytes each way while `run` talks to `port` through a recording proxy on 127.0.0.1:
 * what one request of a protocol really is on the wire (an HTTP request with all its
 * headers, and its answer). `setup` runs first, unrecorded (a login).
 */
export async function recordExchange(
  port: number,
  setup: (proxyPort: number) => Promise<void>,
  run: () => Promise<void>,
): Promise<{ request: Buffer; answer: Buffer }> {
  let recording = false;
  const up: Buffer[] = [];
  const down: Buffer[] = [];
  const sockets: Socket[] = [];
  const proxy = await listen((client) => {
    const target = net.connect(port, '127.0.0.1');
    target.setNoDelay(true);
    sockets.push(client, target);
    client.on('data', (chunk: Buffer) => {
      if (recording) up.push(chunk);
      target.write(chunk);
    });
    target.on('data', (chunk: Buffer) => {
      if (recording) down.push(chunk);
      client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      target.destroy();
    };
    client.on('close', end);
    target.on('close', end);
    client.on('error', end);
    target.on('error', end);
  });
  const address = proxy.address();
  try {
    await setup(typeof address === 'object' && address !== null ? address.port : 0);
    recording = true;
    await run();
    recording = false;
    return { request: Buffer.concat(up), answer: Buffer.concat(down) };
  } finally {
    await close(proxy, ...sockets);
  }
}
