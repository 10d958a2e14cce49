/**
 * THE protocol table: every protocol the library knows, described once (protocols/
 * descriptor.ts). The facade opens sessions from it, discovery reads its service types, the
 * CLI its pairing and credentials, the Node-RED config node its ports and credential fields.
 */
import type { Protocol } from '../device/interfaces';
import { PROTOCOLS } from '../device/interfaces';
import { InvalidArgumentError } from '../errors';
import { AIRPLAY_PROTOCOL } from './airplay/descriptor';
import { COMPANION_PROTOCOL } from './companion/descriptor';
import type { ProtocolDescriptor } from './descriptor';
import { DMAP_PROTOCOL } from './dmap/descriptor';
import { MRP_PROTOCOL } from './mrp/descriptor';
import { RAOP_PROTOCOL } from './raop/descriptor';

const BY_PROTOCOL: { readonly [P in Protocol]: ProtocolDescriptor } = {
  mrp: MRP_PROTOCOL,
  dmap: DMAP_PROTOCOL,
  companion: COMPANION_PROTOCOL,
  airplay: AIRPLAY_PROTOCOL,
  raop: RAOP_PROTOCOL,
};

/** Every protocol, in PROTOCOLS order. */
export const PROTOCOL_TABLE: readonly ProtocolDescriptor[] = PROTOCOLS.map((p) => BY_PROTOCOL[p]);

export function protocolDescriptor(protocol: Protocol): ProtocolDescriptor {
  return BY_PROTOCOL[protocol];
}

/** The protocols the library opens sessions for. */
export function sessionProtocols(): Protocol[] {
  return PROTOCOL_TABLE.filter((d) => d.createSession).map((d) => d.protocol);
}

/** The protocols the library can pair with. */
export function pairableProtocols(): Protocol[] {
  return PROTOCOL_TABLE.filter((d) => d.createPairing).map((d) => d.protocol);
}

/** The protocols that take credentials (the config node's credential fields). */
export function credentialProtocols(): Protocol[] {
  return PROTOCOL_TABLE.filter((d) => d.credentials).map((d) => d.protocol);
}

/** Checks `text` as credentials of `protocol` (InvalidArgumentError naming the protocol, never the value). */
export function checkCredentials(protocol: Protocol, text: string): void {
  const spec = BY_PROTOCOL[protocol].credentials;
  if (!spec) throw new InvalidArgumentError(`${BY_PROTOCOL[protocol].label} takes no credentials`);
  spec.check(text);
}
