/**
 * Public API of the library: discovery, pairing, one `Device` facade over every protocol,
 * the simulator, and the codecs. No Node-RED import anywhere below lib/.
 */
export * from './errors';
export * from './device/state';
export * from './device/commands';
export * from './device/properties';
export * from './device/interfaces';
export * from './codecs/dmap-tags';
export * from './codecs/dmap';
export * from './log';
export * from './core/facade';
export * from './device/config';
export * from './mdns/types';
export * from './codecs/tlv8';
export * from './hap';
export * from './discovery';
export * from './protocols/dmap';
export * from './simulator';
export * from './codecs/varint';
export * from './protocols/mrp';
export * from './core/pairing';
export * from './device/models';
export * from './protocols/table';
export type { PairingStyle, CredentialsSpec, ProtocolDescriptor } from './protocols/descriptor';
export * from './protocols/airplay/service';
export * from './protocols/companion';
export * from './support/frames';
export * from './support/channel';
export * from './support/requests';
export * from './codecs/image';
export * from './codecs/bplist';
export * from './codecs/opack';
export * from './codecs/http';
export * from './protocols/airplay';
export * from './codecs/plist-xml';
