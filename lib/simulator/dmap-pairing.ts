/**
 * DMAP pairing from the DEVICE side (pyatv: protocols/dmap/pairing.py, the OwnTone transcript in
 * test/fixtures/owntone-29.3/pairing-transcript.txt): the remote announces
 * `_touch-remote._tcp` with TXT `Pair=<its GUID>`; once the user types the remote's PIN on
 * the device, the device calls the remote's `GET /pair?pairingcode=…&servicename=…` and the
 * remote answers a `cmpa` container whose `cmpg` becomes the accepted login GUID.
 */
import { connect, type Socket } from 'node:net';
import { decodeDmap, dmapString, findDmap } from '../codecs/dmap';
import type { BrowseOptions, ServiceRecord } from '../mdns/types';
import { ClosedError, InvalidArgumentError, PairingError, TimeoutError, networkError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { dmapPairingCode, normalizeDmapPin, TOUCH_REMOTE_TYPE } from '../protocols/dmap/pairing';


/** A remote's answer is a few dozen bytes; anything this large is not a pairing answer. */
const MAX_ANSWER = 64 * 1024;
const DEFAULT_TIMEOUT = 10_000;

export interface TouchRemote {
  /** IPv4 address of the remote's /pair server. */
  host: string;
  port: number;
  /** The remote's TXT `Pair` value (its pairing GUID, 16 hex digits). */
  pair: string;
  /** TXT `DvNm`, if known. */
  name?: string | null;
}

export type BrowseFunction = (options: BrowseOptions) => Promise<ServiceRecord[]>;

export interface PairWithRemoteOptions {
  /** Call this remote directly instead of browsing for one. */
  remote?: TouchRemote;
  /** Browse by unicast DNS-SD to these hosts instead of multicast. */
  hosts?: string[];
  /** UDP port of unicast DNS-SD queries (default 5353). */
  mdnsPort?: number;
  /** Interface address for multicast browsing. */
  interface?: string;
  /** Pick the remote whose TXT `DvNm` is this (default: the first found). */
  remoteName?: string;
  /** Milliseconds for browsing, and again for the /pair request (default 10 s each). */
  timeout?: number;
  logger?: Logger;
  /** The discovery browse function (tests and the simulator pass it in). */
  browse?: BrowseFunction;
  /** Aborting ends the /pair request at once (the simulator aborts on stop). */
  signal?: AbortSignal;
}

export interface PairWithRemoteResult {
  /** `0x` + 16 upper-case hex digits: what the remote will log in with. */
  credentials: string;
  /** The remote's name (`cmnm`), when it gave one. */
  remoteName: string | null;
  /** The remote's device type (`cmty`, e.g. "iPhone"), when given. */
  remoteType: string | null;
}

interface RawAnswer {
  status: number;
  body: Buffer;
}

function parseAnswer(data: Buffer, complete: boolean): RawAnswer | null {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) {
    if (complete) throw new PairingError('the remote closed the connection without an HTTP answer to /pair');
    return null;
  }
  const head = data.toString('latin1', 0, end).split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(head[0] ?? '');
  if (statusLine === null) throw new PairingError('the remote answered /pair with something that is not HTTP');
  const headers = new Map<string, string>();
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const status = Number(statusLine[1]);
  let body = data.subarray(end + 4);
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
    const chunks: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = body.indexOf('\r\n', at);
      if (lineEnd < 0) break;
      const size = parseInt(body.toString('latin1', at, lineEnd), 16);
      if (!Number.isFinite(size) || size < 0) throw new PairingError('the remote sent a malformed chunked answer to /pair');
      if (size === 0) return { status, body: Buffer.concat(chunks) };
      if (lineEnd + 2 + size + 2 > body.length) break;
      chunks.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    if (complete) throw new PairingError('the remote closed the connection in the middle of its /pair answer');
    return null;
  }
  const lengthHeader = headers.get('content-length');
  if (lengthHeader !== undefined) {
    const length = Number(lengthHeader);
    if (!Number.isInteger(length) || length < 0 || length > MAX_ANSWER) throw new PairingError('the remote sent an invalid Content-Length in its /pair answer');
    if (body.length >= length) return { status, body: body.subarray(0, length) };
    if (complete) throw new PairingError('the remote closed the connection in the middle of its /pair answer');
    return null;
  }
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) return { status, body: Buffer.alloc(0) };
  return complete ? { status, body } : null;
}

/**
 * Sends the device's `GET /pair` over a raw socket: a real Apple TV (and OwnTone) sends the
 * request line with no header at all, not even Host, and some remotes rely on that.
 */
export function requestPairing(remote: TouchRemote, path: string, timeout: number, signal?: AbortSignal): Promise<RawAnswer> {
  const endpoint = `remote ${remote.host}:${remote.port}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    let data = Buffer.alloc(0);
    const socket: Socket = connect({ host: remote.host, port: remote.port });
    const finish = (err: Error | null, answer?: RawAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(answer!);
    };
    const timer = setTimeout(
      () => finish(new TimeoutError(`the ${endpoint} did not answer the pairing request within ${Math.round(timeout / 1000)} s`)),
      timeout,
    );
    const onAbort = (): void => finish(new ClosedError('pairing was cancelled'));
    if (signal?.aborted) {
      queueMicrotask(onAbort);
    } else {
      signal?.addEventListener('abort', onAbort, { once: true });
    }
    const attempt = (complete: boolean): void => {
      try {
        const answer = parseAnswer(data, complete);
        if (answer !== null) finish(null, answer);
      } catch (err) {
        finish(err as Error);
      }
    };
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      if (data.length + chunk.length > MAX_ANSWER) {
        finish(new PairingError(`the ${endpoint} sent more than ${MAX_ANSWER} bytes in answer to /pair; that is not a pairing answer`));
        return;
      }
      data = Buffer.concat([data, chunk]);
      attempt(false);
    });
    socket.on('end', () => attempt(true));
    socket.on('close', () => attempt(true));
    socket.on('error', (err) => finish(networkError(err, endpoint)));
  });
}

function txtValue(txt: Record<string, string>, key: string): string | undefined {
  const found = Object.keys(txt).find((k) => k.toLowerCase() === key.toLowerCase());
  return found === undefined ? undefined : txt[found];
}

async function findRemote(options: PairWithRemoteOptions, timeout: number): Promise<TouchRemote> {
  if (options.browse === undefined) throw new InvalidArgumentError('pairWithRemote needs a browse function or a remote to call');
  const records = await options.browse({
    types: [TOUCH_REMOTE_TYPE],
    timeout,
    ...(options.hosts !== undefined ? { hosts: options.hosts } : {}),
    ...(options.mdnsPort !== undefined ? { port: options.mdnsPort } : {}),
    ...(options.interface !== undefined ? { interface: options.interface } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  });
  const candidates = records.filter((r) => r.type === TOUCH_REMOTE_TYPE && r.port > 0 && txtValue(r.txt, 'Pair'));
  const chosen =
    options.remoteName === undefined ? candidates[0] : candidates.find((r) => txtValue(r.txt, 'DvNm') === options.remoteName);
  if (chosen === undefined) {
    const which = options.remoteName === undefined ? 'no remote' : `no remote named "${options.remoteName}"`;
    throw new PairingError(`${which} announced ${TOUCH_REMOTE_TYPE} within ${Math.round(timeout / 1000)} s: start pairing in the remote app first`);
  }
  const host = chosen.addresses[0] ?? chosen.source;
  return { host, port: chosen.port, pair: txtValue(chosen.txt, 'Pair')!, name: txtValue(chosen.txt, 'DvNm') ?? null };
}

/**
 * Pairs the device `serviceName` (its 16-hex DMAP id) with a remote showing `pin`. Resolves
 * with the GUID the remote will log in with; rejects with a `PairingError` (refused, garbage
 * answer, no remote found) or a `TimeoutError` (the remote never answered).
 */
export async function pairWithRemote(pin: string | number, serviceName: string, options: PairWithRemoteOptions = {}): Promise<PairWithRemoteResult> {
  const digits = normalizeDmapPin(pin);
  const timeout = options.timeout ?? DEFAULT_TIMEOUT;
  const logger = options.logger ?? silentLogger;
  const remote = options.remote ?? (await findRemote(options, timeout));
  if (typeof remote.pair !== 'string' || remote.pair === '' || remote.pair.length > 64) {
    throw new PairingError('the remote announced no usable Pair value in its TXT record');
  }
  // Upper-case on the wire, as the OwnTone transcript shows a real server sending it.
  const code = dmapPairingCode(remote.pair, digits).toUpperCase();
  const path = `/pair?pairingcode=${code}&servicename=${encodeURIComponent(serviceName)}`;
  logger.debug(`DMAP pairing: calling ${remote.host}:${remote.port}/pair`);
  const answer = await requestPairing(remote, path, timeout, options.signal);
  if (answer.status !== 200) {
    throw new PairingError(
      `the remote refused the pairing (HTTP ${answer.status}): check that the PIN typed on the device is the one the remote shows`,
    );
  }
  let nodes;
  try {
    nodes = decodeDmap(answer.body);
  } catch (err) {
    throw new PairingError('the remote answered /pair with bytes that are not DMAP', { cause: err });
  }
  const guid = findDmap(nodes, 'cmpa', 'cmpg')?.value;
  let value: bigint;
  if (typeof guid === 'bigint') value = guid;
  else if (typeof guid === 'number') value = BigInt(guid);
  else throw new PairingError('the remote answered /pair without a pairing GUID (cmpa/cmpg)');
  if (value <= 0n || value >= 1n << 64n) throw new PairingError('the remote answered /pair with an unusable pairing GUID');
  return {
    credentials: `0x${value.toString(16).toUpperCase().padStart(16, '0')}`,
    remoteName: dmapString(nodes, 'cmpa', 'cmnm') ?? remote.name ?? null,
    remoteType: dmapString(nodes, 'cmpa', 'cmty') ?? null,
  };
}
