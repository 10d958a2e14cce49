/**
 * DMAP/DACP, remote side: the session the facade uses (`createDmapSession`), DMAP pairing
 * (`DmapPairing`), and the lower layers for tools that want them (the DACP client, the
 * push updater, the playstatus mapping).
 */
export { DACP_HEADERS, DACP_POST_CONTENT_TYPE, DACP_TIMEOUT, DACP_MAX_BODY, DACP_MAX_CONNECTIONS, DacpHttp } from './http';
export type { DacpHttpOptions, DacpHttpRequest, DacpHttpResponse } from './http';
export { DacpClient, DACP_BUTTONS, DACP_PROMPTS, DACP_ARROWS, DACP_ARROW_SWIPES, dacpLoginParameter } from './client';
export type { DacpClientOptions, DacpButton, DacpPrompt, DacpArrow, DacpProperty, DacpPropertyValues, PlayStatusOptions } from './client';
export { nowPlayingFromPlaystatus, playstatusRevision, dmapMediaKind } from './state';
export { DmapPushUpdater } from './push';
export type { DmapPushOptions, DmapPushEvents } from './push';
export { DmapSession, createDmapSession, DMAP_COMMAND_ACTIONS, DMAP_SKIP_INTERVAL } from './session';
export type { DmapSessionOptions, DmapAction } from './session';
export {
  DmapPairing,
  DMAP_PAIRING_TIMEOUT,
  TOUCH_REMOTE_TYPE,
  dmapPairingAnswer,
  touchRemoteInstanceName,
} from './pairing';
export type { DmapPairingOptions } from './pairing';
export { DMAP_SERVICES } from './service';
export { DMAP_PROTOCOL } from './descriptor';
