/**
 * AirPlay 2: the data-stream frame codec, the sender's connection (HTTP/RTSP over HAP
 * blocks), pairing (HAP with a PIN, transient), the remote-control tunnel that carries MRP to
 * tvOS 15+ and HomePods, and the session the facade uses.
 */
export * from './datastream';
export * from './connection';
export * from './auth';
export * from './channels';
export * from './feedback';
export * from './tunnel';
export * from './info';
export * from './play';
export * from './pairing';
export * from './session';
export * from './descriptor';
