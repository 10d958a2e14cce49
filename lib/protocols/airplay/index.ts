/**
 * AirPlay 2: for now the data-stream frame codec of the remote-control tunnel, which carries
 * MRP messages to tvOS 15+.
 */
export * from './datastream';
