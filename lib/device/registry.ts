/**
 * The protocols the library speaks: one session factory and one pairing factory per
 * protocol. The facade and `pair()` read these; adding a protocol means adding it here.
 */
import { createDmapSession } from '../protocols/dmap/session';
import { createMrpSession } from '../protocols/mrp/session';
import type { Protocol, SessionFactory } from './interfaces';

export const SESSION_FACTORIES: Partial<Record<Protocol, SessionFactory>> = {
  dmap: createDmapSession,
  mrp: createMrpSession,
};
