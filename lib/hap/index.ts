/**
 * The HAP layer shared by MRP, AirPlay 2 and Companion: SRP pair-setup, pair-verify, session
 * ciphers, credentials. Pure modules; the protocols carry the bytes.
 */
export * from './keys';
export * from './srp';
export * from './credentials';
export * from './device-errors';
export * from './pair-setup';
export * from './pair-verify';
export * from './channel';
