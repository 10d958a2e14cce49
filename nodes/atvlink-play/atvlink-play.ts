/**
 * Play node: plays a media URL (or a local file, served for the device) over AirPlay. The
 * URL comes from where the node says (default `msg.payload`), the start position likewise
 * (optional). The message goes on when playback is over, with `msg.playback` saying how it
 * ended: `ended` (the media finished or the device stopped it), `stopped` (a message with
 * `msg.stop` set, a newer URL, or a redeploy). One playback per node at a time.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { InvalidArgumentError } from '../../lib/errors';
import { attachToDevice, evaluate, onInput, withDevice } from '../flow-node';

export interface PlayNodeDef extends NodeDef {
  device?: string;
  /** Where the URL is: a typed input (default `payload` of type `msg`). */
  url?: string;
  urlType?: string;
  /** Where the start position (seconds) is, if anywhere: empty = from the start. */
  position?: string | number;
  positionType?: string;
}

export default function (RED: NodeAPI): void {
  const t = (key: string, substitutions?: Record<string, string | number>) => RED._(`atvlink-play.${key}`, substitutions);

  function AtvlinkPlayNode(this: Node, def: PlayNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = attachToDevice(node, def.device);
    let current: AbortController | null = null;

    node.on('close', () => current?.abort());

    async function read(value: string | number | undefined, type: string | undefined, fallbackType: string, msg: NodeMessage): Promise<unknown> {
      const kind = type || fallbackType;
      if (value === undefined || String(value).trim() === '') return undefined;
      if (kind === 'num') return Number(value);
      if (kind === 'str') return String(value);
      return evaluate(RED, node, String(value), kind, msg);
    }

    onInput(node, async (msg, send) => {
      const stop = (msg as { stop?: unknown }).stop === true;
      if (stop) {
        current?.abort();
        return;
      }
      const url = await read(def.url ?? 'payload', def.urlType, 'msg', msg);
      if (typeof url !== 'string' || url.trim() === '' || url.length > 8192) throw new InvalidArgumentError(t('errors.badUrl'));
      const position = await read(def.position, def.positionType, 'num', msg);
      if (position !== undefined && !(typeof position === 'number' && Number.isFinite(position) && position >= 0)) {
        throw new InvalidArgumentError(t('errors.badPosition'));
      }
      // A newer URL takes over: the one playing ends as stopped.
      current?.abort();
      const controller = new AbortController();
      current = controller;
      try {
        await withDevice(link, (device) => device.playUrl(url.trim(), { ...(position !== undefined && { position }), signal: controller.signal }));
      } finally {
        if (current === controller) current = null;
      }
      const out = msg as NodeMessage & { playback?: string };
      out.playback = controller.signal.aborted ? 'stopped' : 'ended';
      send(out);
    });
  }

  RED.nodes.registerType('atvlink-play', AtvlinkPlayNode);
}
