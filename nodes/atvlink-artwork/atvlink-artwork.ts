/**
 * Artwork node: on input, fetches the cover of what is playing now, as a Buffer (or a
 * `data:` URI for dashboards) with its content type and size; `null` when there is none.
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { ArtworkRequest } from '../../lib/device/interfaces';
import { InvalidArgumentError } from '../../lib/errors';
import { attachToDevice, withDevice, onInput } from '../flow-node';

export interface ArtworkNodeDef extends NodeDef {
  device?: string;
  width?: string | number;
  height?: string | number;
  /** `buffer` (default) or `dataUri`. */
  output?: string;
}

export default function (RED: NodeAPI): void {
  const t = (key: string, substitutions?: Record<string, string | number>) => RED._(`atvlink-artwork.${key}`, substitutions);

  /** A size in pixels from the message or the editor; undefined when neither gives one. */
  function pixels(fromMsg: unknown, fromEditor: unknown, what: string): number | undefined {
    const given = fromMsg !== undefined && fromMsg !== null && fromMsg !== '' ? fromMsg : fromEditor;
    if (given === undefined || given === null || String(given).trim() === '') return undefined;
    const n = typeof given === 'number' ? given : typeof given === 'string' ? Number(given) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > 4096) {
      throw new InvalidArgumentError(t('errors.badSize', { what, value: String(given).slice(0, 20) }));
    }
    return n;
  }

  function AtvlinkArtworkNode(this: Node, def: ArtworkNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const link = attachToDevice(node, def.device);

    onInput(node, async (msg, send) => {
      const request: ArtworkRequest = {};
      const width = pixels(msg.width, def.width, 'width');
      const height = pixels(msg.height, def.height, 'height');
      if (width !== undefined) request.width = width;
      if (height !== undefined) request.height = height;
      const artwork = await withDevice(link, (device) => device.artwork(request));
      if (!artwork) {
        msg.payload = null;
        msg.contentType = null;
        msg.width = null;
        msg.height = null;
        msg.size = 0;
        send(msg);
        return;
      }
      msg.payload =
        def.output === 'dataUri' ? `data:${artwork.mimeType};base64,${artwork.bytes.toString('base64')}` : artwork.bytes;
      msg.contentType = artwork.mimeType;
      msg.width = artwork.width;
      msg.height = artwork.height;
      msg.size = artwork.bytes.length;
      send(msg);
    });
  }

  RED.nodes.registerType('atvlink-artwork', AtvlinkArtworkNode);
}
