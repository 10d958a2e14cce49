/**
 * The Node-RED side of the one shared connection per device config node: the library's
 * `DeviceSupervisor` (lib/core/supervisor.ts, which owns the connection, the reconnect policy,
 * the background retry of a failed protocol and the swap to a richer device) plus what only
 * Node-RED needs: the status dot and text every node shows for a connection state (within
 * the editor's 20 characters, translated), the retry settings read from settings.js, and the
 * map from config node id to its link that flow nodes look up.
 */
import type { Device } from '../lib/core/facade';
import {
  DEFAULT_RETRY,
  DeviceSupervisor,
  type DeviceReadings,
  type ReadingName,
  MAX_RETRY_MS,
  MIN_RETRY_MS,
  type RetryPolicy,
  type SupervisedDevice,
  type SupervisorListener,
  type SupervisorOptions,
  type SupervisorStatus,
} from '../lib/core/supervisor';
import type { Protocol } from '../lib/device/interfaces';
import { protocolDescriptor } from '../lib/protocols/table';
import type { NowPlaying } from '../lib/device/state';

export {
  DEFAULT_RETRY,
  MAX_RETRY_MS,
  MIN_RETRY_MS,
  isConfigurationError,
  retryDelay,
  type DeviceReadings,
  type ProtocolFailure,
  type ReadingName,
  type RetryPolicy,
  type SupervisorState as LinkState,
  type SupervisedDevice as LinkedDevice,
  type SupervisorStatus as LinkStatus,
} from '../lib/core/supervisor';
type LinkStatus = SupervisorStatus;


/** A Node-RED status object (kept structural so this file needs no Node-RED types). */
export interface DisplayStatus {
  fill: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape: 'ring' | 'dot';
  text: string;
}

/** Looks up a message in the config node's catalog (Node-RED's `RED._`). */
export type Translate = (key: string, substitutions?: Record<string, string | number>) => string;

/**
 * The retry policy from `atvlinkDeviceRetry` in settings.js, kept within [MIN_RETRY_MS,
 * MAX_RETRY_MS] with `max` at least `initial`; a value that is not a number falls back to
 * the default. `problems` says what was changed, for a warning.
 */
export function retryPolicyFrom(given: unknown): { policy: RetryPolicy; problems: string[] } {
  const problems: string[] = [];
  if (given === undefined || given === null) return { policy: { ...DEFAULT_RETRY }, problems };
  const source = typeof given === 'object' ? (given as Record<string, unknown>) : {};
  if (typeof given !== 'object') problems.push(`atvlinkDeviceRetry must be an object like { initial: 1000, max: 60000 }; using the defaults`);
  const read = (key: keyof RetryPolicy, fallback: number): number => {
    const value = source[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      problems.push(`atvlinkDeviceRetry.${key} must be a number of milliseconds; using ${fallback}`);
      return fallback;
    }
    const kept = Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, Math.round(value)));
    if (kept !== value) problems.push(`atvlinkDeviceRetry.${key} ${value} is outside ${MIN_RETRY_MS}..${MAX_RETRY_MS} ms; using ${kept}`);
    return kept;
  };
  const initial = read('initial', DEFAULT_RETRY.initial);
  let max = read('max', DEFAULT_RETRY.max);
  if (max < initial) {
    if (source.max !== undefined) problems.push(`atvlinkDeviceRetry.max is below initial; using ${initial}`);
    max = initial;
  }
  return { policy: { initial, max }, problems };
}

/** Node-RED's status convention: status texts stay within 20 characters. */
export const STATUS_MAX = 20;

/**
 * `text` cut to `max` characters (code points, so an emoji is never split) with an
 * ellipsis, at the last word boundary when one keeps at least half of it.
 */
export function shorten(text: string, max: number): string {
  const chars = Array.from(text.trim());
  if (chars.length <= max) return chars.join('');
  if (max <= 1) return '…'.slice(0, max);
  const kept = chars.slice(0, max - 1);
  const space = kept.lastIndexOf(' ');
  const cut = space >= Math.ceil((max - 1) / 2) ? kept.slice(0, space) : kept;
  return `${cut.join('').replace(/[\s,;:.-]+$/, '')}…`;
}

/**
 * `t(key)` with its one variable part shortened to what the translation leaves of
 * STATUS_MAX characters (at least a few, for a long translation).
 */
export function fitted(t: Translate, key: string, name: string, value: string): string {
  const room = STATUS_MAX - Array.from(t(key, { [name]: '' })).length;
  return t(key, { [name]: shorten(value, Math.max(room, 4)) });
}

/** The status dot and text every node shows for a connection state (at most STATUS_MAX characters). */
export function displayStatus(status: LinkStatus, t: Translate = (k) => k): DisplayStatus {
  switch (status.state) {
    case 'connected': {
      // A protocol that failed is worth more than the title: it is what the user can fix.
      const upper = (list: readonly Protocol[]) => list.map((p) => p.toUpperCase()).join(', ');
      if (status.needsPairing.length > 0) {
        return { fill: 'yellow', shape: 'dot', text: fitted(t, 'status.connectedPair', 'protocols', upper(status.needsPairing)) };
      }
      if (status.failedProtocols.length > 0) {
        const down = status.failedProtocols.map((f) => f.protocol);
        return { fill: 'yellow', shape: 'dot', text: fitted(t, 'status.connectedWithout', 'protocols', upper(down)) };
      }
      // What plays is the playstatus node's to show (flow-node.ts): every node showing the
      // same title said nothing about the node itself.
      // How the device is reached, when not plainly: MRP through the AirPlay 2 tunnel says "(AirPlay)".
      const via = status.routes.find((r) => r.via !== null)?.via;
      if (via) return { fill: 'green', shape: 'dot', text: fitted(t, 'status.connectedVia', 'via', protocolDescriptor(via).label) };
      return { fill: 'green', shape: 'dot', text: t('status.connected') };
    }
    case 'connecting':
      return { fill: 'yellow', shape: 'ring', text: t('status.connecting') };
    case 'pairing':
      return {
        fill: 'red',
        shape: 'dot',
        text:
          status.needsPairing.length > 0
            ? fitted(t, 'status.pairingRequiredFor', 'protocols', status.needsPairing.map((p) => p.toUpperCase()).join(', '))
            : t('status.pairingRequired'),
      };
    case 'invalid':
      return { fill: 'red', shape: 'dot', text: t('status.invalid') };
    case 'idle':
    case 'closed':
    case 'disconnected':
    default:
      return { fill: 'red', shape: 'ring', text: t('status.disconnected') };
  }
}

/** What a flow node hands to `register`: callbacks for what it wants to hear about. */
export interface LinkListener {
  status?(status: LinkStatus, display: DisplayStatus): void;
  nowPlaying?(state: NowPlaying): void;
  /** See SupervisorListener.readings: every reading with `initial` once connected, then each change. */
  readings?(readings: DeviceReadings, changed: ReadingName[], initial: boolean): void;
}

export interface DeviceLinkOptions<D extends SupervisedDevice = Device> extends SupervisorOptions<D> {
  /** Looks up the status texts in the config node's catalog. */
  translate?: Translate;
}

/** A config node's supervisor, telling its users the status to show as well. */
export class DeviceLink<D extends SupervisedDevice = Device> extends DeviceSupervisor<D> {
  private readonly translate: Translate | undefined;

  constructor(options: DeviceLinkOptions<D>) {
    super(options);
    this.translate = options.translate;
  }

  /** The status dot and text for the current state. */
  display(): DisplayStatus {
    return displayStatus(this.snapshot(), this.translate);
  }

  override register(user: object, listener: LinkListener = {}): void {
    const wrapped: SupervisorListener = {
      ...(listener.status && { status: (status: SupervisorStatus) => listener.status!(status, displayStatus(status, this.translate)) }),
      ...(listener.nowPlaying && { nowPlaying: listener.nowPlaying.bind(listener) }),
      ...(listener.readings && { readings: listener.readings.bind(listener) }),
    };
    super.register(user, wrapped);
  }
}


/** The one link per config node id, for the flow nodes to find. */
const links = new Map<string, DeviceLink<Device>>();

/** Creates the link of config node `id` (closing a leftover one of the same id first). */
export function openLink(id: string, options: DeviceLinkOptions<Device>): DeviceLink<Device> {
  const leftover = links.get(id);
  if (leftover) void leftover.close();
  const link = new DeviceLink(options);
  links.set(id, link);
  return link;
}

export function getLink(id: string): DeviceLink<Device> | undefined {
  return links.get(id);
}

/** Closes and forgets the link of config node `id`. */
export async function closeLink(id: string): Promise<void> {
  const link = links.get(id);
  if (!link) return;
  links.delete(id);
  await link.close();
}
