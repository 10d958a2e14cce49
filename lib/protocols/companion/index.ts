/** The Companion protocol: frames and messages, the keyboard archives, connection, session, pairing. */
export * from './messages';
export * from './commands';
export * from './rti';
export * from './connection';
export * from './session';
export * from './pairing';
export * from './service';
export { COMPANION_PROTOCOL } from './descriptor';
