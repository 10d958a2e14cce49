/**
 * What every flow node does the same way: find its device's shared link, show the link's
 * state as its status, leave the link on close, and run its input handler so that any
 * failure (bad input, device error) ends in `done(err)` with the message, for a Catch node,
 * and never escapes into the runtime.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from 'node-red';
import type { Device } from '../lib/core/facade';
import { FeatureUnavailableError, InvalidArgumentError, NotSupportedError } from '../lib/errors';
import type { Protocol } from '../lib/device/interfaces';
import { getLink, type DeviceLink, type DisplayStatus, type LinkListener, type Translate } from './connections';

/**
 * Messages shared by every node (status texts, "no device configured"). They live in the
 * device config node's catalog, which hands its translator over when its module loads.
 */
let sharedTranslate: Translate = (key) => key;

export function setSharedTranslate(t: Translate): void {
  sharedTranslate = t;
}

export function shared(key: string, substitutions?: Record<string, string | number>): string {
  return sharedTranslate(key, substitutions);
}

export type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

/**
 * What a node kind says about itself while its device is connected and well (the last
 * command sent, the value read, the artwork fetched, what plays), within STATUS_MAX
 * characters; null: the plain "connected". Warnings and errors of the connection always win.
 */
export type OwnStatus = () => string | null;

const statusShown = new WeakMap<Node, { display: DisplayStatus | null; own: OwnStatus | undefined }>();

function show(node: Node): void {
  const shown = statusShown.get(node);
  if (!shown?.display) return;
  const own = shown.display.fill === 'green' ? shown.own?.() : null;
  // Each node kind keeps its text within STATUS_MAX itself (`fitted`), translated or not.
  node.status(own ? { ...shown.display, text: own } : shown.display);
}

/** Shows the node's own status text again (it changed: a command was sent, a value read). */
export function refreshStatus(node: Node): void {
  show(node);
}

/**
 * Registers `node` with the link of config node `deviceId` and mirrors the link's state in
 * the node's status (with `own` text while connected). Returns null (and shows why) when no
 * device is configured.
 */
export function attachToDevice(node: Node, deviceId: string | undefined, listener: LinkListener = {}, own?: OwnStatus): DeviceLink<Device> | null {
  const link = deviceId ? getLink(deviceId) : undefined;
  if (!link) {
    node.status({ fill: 'red', shape: 'ring', text: shared('status.noDevice') });
    return null;
  }
  statusShown.set(node, { display: null, own });
  link.register(node, {
    status(status, display) {
      statusShown.set(node, { display, own });
      show(node);
      listener.status?.(status, display);
    },
    nowPlaying: listener.nowPlaying?.bind(listener),
    readings: listener.readings?.bind(listener),
  });
  node.on('close', (_removed: boolean, done: () => void) => {
    link.deregister(node).then(done, (err: unknown) => {
      node.warn(err instanceof Error ? err.message : String(err));
      done();
    });
  });
  return link;
}

/** The error for a message that reached a node with no device configured. */
export function noDeviceError(): Error {
  return new InvalidArgumentError(shared('errors.noDevice'));
}

/**
 * Runs `handler` for each input message. A rejection or a throw becomes `done(err)`, so
 * the runtime reports it against the message (Catch nodes see it) and nothing is thrown.
 */
export function onInput(node: Node, handler: (msg: NodeMessageInFlow, send: Send) => Promise<void>): void {
  node.on('input', (msg, send, done) => {
    let settled: Promise<void>;
    try {
      settled = handler(msg, send);
    } catch (err) {
      settled = Promise.reject(err);
    }
    settled.then(
      () => done(),
      (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
    );
  });
}

/**
 * Runs a request on the device of `link` once it is connected (or fails with the reason it
 * is not). A request no connected protocol can serve, while another protocol failed to
 * connect, says which one and what to do: "cannot do home over dmap" alone does not tell
 * that pairing MRP would fix it.
 */
export async function withDevice<T>(link: DeviceLink<Device> | null, request: (device: Device) => Promise<T>): Promise<T> {
  if (!link) throw noDeviceError();
  try {
    return await link.use(request);
  } catch (err) {
    throw explain(link, err);
  }
}

function explain(link: DeviceLink<Device>, err: unknown): unknown {
  // The device names the protocols that could do it (unpaired, or not connected): say what to do.
  if (!(err instanceof FeatureUnavailableError)) return err;
  const status = link.snapshot();
  const upper = (list: readonly string[]) => list.map((p) => p.toUpperCase()).join(', ');
  const unpaired = [...err.unpaired, ...err.failed.filter((p) => status.needsPairing.includes(p as Protocol))];
  const down = status.failedProtocols.filter((f) => err.failed.includes(f.protocol) && !unpaired.includes(f.protocol));
  const hints: string[] = [];
  if (unpaired.length > 0) hints.push(shared('errors.unpairedProtocols', { protocols: upper(unpaired), protocol: unpaired[0]! }));
  if (down.length > 0) {
    hints.push(shared('errors.downProtocols', { protocols: upper(down.map((f) => f.protocol)), reason: down.map((f) => f.error.message).join('; ') }));
  }
  return hints.length > 0 ? new NotSupportedError(`${err.base}; ${hints.join('; ')}`, { cause: err }) : err;
}

/** Evaluates a typed-input property (msg, flow, global, env, str, num, ...) for `msg`. */
export function evaluate(RED: NodeAPI, node: Node, value: string, type: string, msg: NodeMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    RED.util.evaluateNodeProperty(value, type, node, msg, (err: Error | null, result: unknown) => {
      if (err) reject(err);
      else resolve(result);
    });
  });
}
