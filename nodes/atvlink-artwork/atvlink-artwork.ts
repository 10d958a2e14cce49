/**
 * Artwork node: on input, fetches the cover of what is playing now, as a Buffer (or a
 * `data:` URI for dashboards) with its content type and size; `null` when there is none.
 * Width and height are typed inputs: a number, or read from the message or context.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { isArtworkEdge, type ArtworkRequest } from '../../lib/device/interfaces';
import { InvalidArgumentError } from '../../lib/errors';
import { attachToDevice, evaluate, onInput, refreshStatus, withDevice } from '../flow-node';

export interface ArtworkNodeDef extends NodeDef {
  device?: string;
  width?: string | number;
  /** Typed input type of `width`: `num` (default, also for flows saved before), `msg`, `flow`, ... */
  widthType?: string;
  height?: string | number;
  heightType?: string;
  /** `buffer` (default) or `dataUri`. */
  output?: string;
}

export default function (RED: NodeAPI): void {
  const t = (key: string, substitutions?: Record<string, string | number>) => RED._(`atvlink-artwork.${key}`, substitutions);

  /** A size in pixels, or undefined when none is given. */
  function pixels(given: unknown, what: string): number | undefined {
    if (given === undefined || given === null || String(given).trim() === '') return undefined;
    const n = typeof given === 'number' ? given : typeof given === 'string' ? Number(given) : NaN;
    if (!isArtworkEdge(n)) {
      throw new InvalidArgumentError(t('errors.badSize', { what, value: String(given).slice(0, 20) }));
    }
    return n;
  }

  function AtvlinkArtworkNode(this: Node, def: ArtworkNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    let fetched: string | null = null;
    const link = attachToDevice(node, def.device, {}, () => fetched);

    /**
     * The size the node asks for: a number set in the editor, or read from where the editor
     * says (msg.width, flow context, ...). Never from msg.width unless set so: msg.width is
     * also what this node sends on, and an artwork node wired after another must not take
     * the other's image size as its request.
     */
    async function size(value: string | number | undefined, type: string | undefined, msg: NodeMessage, what: string): Promise<number | undefined> {
      const kind = type || 'num';
      if (kind === 'num' || kind === 'str') return pixels(value, what);
      if (value === undefined || String(value).trim() === '') return undefined;
      return pixels(await evaluate(RED, node, String(value), kind, msg), what);
    }

    onInput(node, async (msg, send) => {
      const request: ArtworkRequest = {};
      const width = await size(def.width, def.widthType, msg, 'width');
      const height = await size(def.height, def.heightType, msg, 'height');
      if (width !== undefined) request.width = width;
      if (height !== undefined) request.height = height;
      const artwork = await withDevice(link, (device) => device.fetchArtwork(request));
      if (!artwork) {
        msg.payload = null;
        msg.contentType = null;
        msg.width = null;
        msg.height = null;
        msg.byteLength = 0;
        fetched = t('status.none');
        refreshStatus(node);
        send(msg);
        return;
      }
      msg.payload =
        def.output === 'dataUri' ? `data:${artwork.mimeType};base64,${artwork.bytes.toString('base64')}` : artwork.bytes;
      msg.contentType = artwork.mimeType;
      msg.width = artwork.width;
      msg.height = artwork.height;
      // Not msg.size: that is where a user would put the size to ask a next artwork node for.
      msg.byteLength = artwork.bytes.length;
      const type = artwork.mimeType.replace(/^image\//, '').toUpperCase();
      fetched = artwork.width && artwork.height ? t('status.fetched', { width: artwork.width, height: artwork.height, type }) : type;
      refreshStatus(node);
      send(msg);
    });
  }

  RED.nodes.registerType('atvlink-artwork', AtvlinkArtworkNode);
}
