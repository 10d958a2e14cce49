/**
 * Playstatus node: an event source that sends the library's now-playing state, with the
 * device's volume, power state and foreground app where it tells them, when one of the chosen
 * fields changes (not on every push or position tick), optionally once on deploy, and on
 * demand when a message arrives. Its status shows what plays.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { Device } from '../../lib/core/facade';
import { unknownReadings, type DeviceReadings, type ReadingName } from '../../lib/core/supervisor';
import { NOW_PLAYING_FIELDS, type NowPlaying } from '../../lib/device/state';
import { fitted, type DeviceLink } from '../connections';
import { attachToDevice, onInput, refreshStatus, withDevice } from '../flow-node';

/** What the node sends: the now-playing state plus the device's readings (volume, power). */
export type PlayStatus = NowPlaying & { volume: number | null; power: DeviceReadings['power'] };

/** The readings a message carries besides now playing (`app` is in both; the text focus is the keyboard node's). */
const PLAYSTATUS_READINGS = ['volume', 'power'] as const satisfies readonly ReadingName[];

/** Every field a message can carry, in display order: now playing, then volume and power. */
export const PLAYSTATUS_FIELDS = [...NOW_PLAYING_FIELDS, ...PLAYSTATUS_READINGS] as const;
export type PlayStatusField = (typeof PLAYSTATUS_FIELDS)[number];

/** What counts as a change unless the node says otherwise: everything but the position tick. */
export const DEFAULT_WATCHED_FIELDS: readonly PlayStatusField[] = PLAYSTATUS_FIELDS.filter((f) => f !== 'position');

export interface PlaystatusNodeDef extends NodeDef {
  device?: string;
  /** Fields whose change sends a message; empty: `DEFAULT_WATCHED_FIELDS`. */
  fields?: string[] | string;
  /** Send the current state once when the connection is first up after a deploy. */
  initial?: boolean;
}

export function watchedFields(fields: PlaystatusNodeDef['fields']): PlayStatusField[] {
  const list = Array.isArray(fields) ? fields : typeof fields === 'string' ? fields.split(',') : [];
  const known = list.map((f) => f.trim()).filter((f): f is PlayStatusField => (PLAYSTATUS_FIELDS as readonly string[]).includes(f));
  return known.length > 0 ? known : [...DEFAULT_WATCHED_FIELDS];
}

/**
 * The message payload: what plays, the volume and power, and as `app` the app in the
 * foreground where a protocol tells it (Companion), else the app playing (MRP).
 */
export function playStatus(state: NowPlaying, readings: DeviceReadings): PlayStatus {
  return { ...state, app: readings.app ?? state.app, volume: readings.volume, power: readings.power };
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The watched fields whose values differ (all of them when there was nothing before). */
export function changedPlayStatus(before: PlayStatus | null, after: PlayStatus, fields: readonly PlayStatusField[]): PlayStatusField[] {
  if (before === null) return [...fields];
  return fields.filter((f) => !same(before[f], after[f]));
}

export default function (RED: NodeAPI): void {
  const t = (key: string, substitutions?: Record<string, string | number>) => RED._(`atvlink-playstatus.${key}`, substitutions);

  function AtvlinkPlaystatusNode(this: Node, def: PlaystatusNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const fields = watchedFields(def.fields);
    let state: NowPlaying | null = null;
    let readings: DeviceReadings = unknownReadings();
    let last: PlayStatus | null = null;
    // Declared before it is attached, so no listener can ever find it uninitialised.
    let link: DeviceLink<Device> | null = null;

    /** Sends when a watched field changed (the first time only when asked to send on deploy). */
    const update = () => {
      if (!state) return;
      const next = playStatus(state, readings);
      const first = last === null;
      const changed = changedPlayStatus(last, next, fields);
      last = next;
      refreshStatus(node);
      if (first ? def.initial === true : changed.length > 0) {
        node.send({ topic: link?.name ?? '', payload: next, changed });
      }
    };

    const own = (): string | null => {
      if (!state) return null;
      const title = state.title ?? state.app?.name ?? '';
      const key = state.deviceState === 'playing' ? 'status.playing' : state.deviceState === 'paused' ? 'status.paused' : null;
      return key && title ? fitted(t, key, 'title', title) : t('status.idle');
    };

    link = attachToDevice(
      node,
      def.device,
      {
        nowPlaying(next) {
          state = next;
          update();
        },
        readings(next) {
          readings = next;
          update();
        },
      },
      own,
    );

    onInput(node, async (msg, send) => {
      const now = await withDevice(link, (device) => device.nowPlaying());
      const payload = playStatus(now, link?.snapshot().readings ?? readings);
      msg.topic = link?.name ?? '';
      msg.payload = payload;
      msg.changed = changedPlayStatus(last, payload, fields);
      send(msg);
    });
  }

  RED.nodes.registerType('atvlink-playstatus', AtvlinkPlaystatusNode);
}
