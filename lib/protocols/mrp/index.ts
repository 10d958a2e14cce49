/**
 * MRP: the message layer (schema types, the type -> extension map, message encode/decode,
 * stream framing, the command/HID tables), and on top of it the connection, the protocol
 * exchange, the now-playing model, the session the facade uses (`createMrpSession`) and
 * pairing (`MrpPairing`).
 */
export * from './proto-types';
export * from './messages';
export * from './framing';
export * from './commands';
export * from './transport';
export * from './exchange';
export * from './player-state';
export * from './artwork';
export * from './volume';
export * from './session';
export * from './pairing';
export * from './service';
export * from './descriptor';
