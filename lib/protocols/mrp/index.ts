/**
 * The MRP message layer: schema types, the type -> extension map, message encode/decode,
 * stream framing, and the command/HID tables. No I/O here; the connection builds on it.
 */
export * from './proto-types';
export * from './messages';
export * from './framing';
export * from './commands';
