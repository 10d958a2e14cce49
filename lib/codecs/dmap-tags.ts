/**
 * THE DMAP tag table. The DMAP wire format (4-byte code, 4-byte big-endian length, value)
 * does not say what a value is, so this table is what tells a container from a string or a
 * number. Every decoder, encoder, simulator response and test reads it; no other file
 * defines a tag.
 *
 * Facts gathered from the DAAP/DACP field lists of pyatv and OwnTone and from bytes recorded
 * against OwnTone 29.3 (test/fixtures/owntone-29.3). Names are the dotted content-code names
 * where one is known; tags whose meaning nobody has documented say "unknown".
 */

export type DmapType =
  /** Nested TLVs. */
  | 'container'
  /** Big-endian unsigned integer (1, 2, 4 or 8 bytes; 8 bytes decode as bigint). */
  | 'uint'
  /** Big-endian two's complement integer (1, 2, 4 or 8 bytes; 8 bytes decode as bigint). */
  | 'int'
  /** One byte, non-zero is true. */
  | 'bool'
  /** UTF-8 text. */
  | 'string'
  /** Seconds since 1970-01-01 UTC, 4 bytes. */
  | 'date'
  /** 4 bytes: major (16 bits), minor (8), patch (8); decodes as "major.minor.patch". */
  | 'version'
  /** Opaque bytes, kept as they are. */
  | 'raw';

export interface DmapTagSpec {
  readonly name: string;
  readonly type: DmapType;
  /** Width in bytes used when encoding an integer (decoding accepts any width). */
  readonly size?: 1 | 2 | 4 | 8;
  /**
   * A container that some servers also send as plain text (`mlit` holds strings in browse
   * listings): decoded as a container when its bytes are a valid TLV sequence, else as text.
   */
  readonly textFallback?: boolean;
}

const t = (name: string, type: DmapType, size?: 1 | 2 | 4 | 8, textFallback?: boolean): DmapTagSpec =>
  size === undefined ? (textFallback ? { name, type, textFallback } : { name, type }) : { name, type, size };

export const DMAP_TAGS: Readonly<Record<string, DmapTagSpec>> = {
  // dmap.* (generic)
  mbcl: t('dmap.bag', 'container'),
  mccr: t('dmap.contentcodesresponse', 'container'),
  mcna: t('dmap.contentcodesname', 'string'),
  mcnm: t('dmap.contentcodesnumber', 'uint', 4),
  mcon: t('dmap.container', 'container'),
  mctc: t('dmap.containercount', 'uint', 4),
  mcti: t('dmap.containeritemid', 'uint', 4),
  mcty: t('dmap.contentcodestype', 'uint', 2),
  mdbk: t('dmap.databasekind', 'uint', 4),
  mdcl: t('dmap.dictionary', 'container'),
  meds: t('dmap.editcommandssupported', 'uint', 4),
  miid: t('dmap.itemid', 'uint', 4),
  mikd: t('dmap.itemkind', 'uint', 1),
  mimc: t('dmap.itemcount', 'uint', 4),
  minm: t('dmap.itemname', 'string'),
  mlcl: t('dmap.listing', 'container'),
  mlid: t('dmap.sessionid', 'uint', 4),
  mlit: t('dmap.listingitem', 'container', undefined, true),
  mlog: t('dmap.loginresponse', 'container'),
  mpco: t('dmap.parentcontainerid', 'uint', 4),
  mper: t('dmap.persistentid', 'uint', 8),
  mpro: t('dmap.protocolversion', 'version'),
  mrco: t('dmap.returnedcount', 'uint', 4),
  msal: t('dmap.supportsautologout', 'bool'),
  msas: t('dmap.authenticationschemes', 'uint', 1),
  msau: t('dmap.authenticationmethod', 'uint', 1),
  msbr: t('dmap.supportsbrowse', 'bool'),
  mscu: t('unknown', 'uint', 8),
  msdc: t('dmap.databasescount', 'uint', 4),
  msed: t('dmap.supportsedit', 'bool'),
  msex: t('dmap.supportsextensions', 'bool'),
  mshc: t('dmap.sortingheaderchar', 'uint', 2),
  mshi: t('dmap.sortingheaderindex', 'uint', 4),
  mshl: t('dmap.sortingheaderlisting', 'container'),
  mshn: t('dmap.sortingheadernumber', 'uint', 4),
  msix: t('dmap.supportsindex', 'bool'),
  mslr: t('dmap.loginrequired', 'bool'),
  msma: t('dmap.speakermachineaddress', 'uint', 8),
  mspi: t('dmap.supportspersistentids', 'bool'),
  msqy: t('dmap.supportsquery', 'bool'),
  msrs: t('dmap.supportsresolve', 'bool'),
  msrv: t('dmap.serverinforesponse', 'container'),
  mstc: t('dmap.utctime', 'date'),
  mstm: t('dmap.timeoutinterval', 'uint', 4),
  msto: t('dmap.utcoffset', 'int', 4),
  msts: t('dmap.statusstring', 'string'),
  mstt: t('dmap.status', 'uint', 4),
  msup: t('dmap.supportsupdate', 'bool'),
  mtco: t('dmap.specifiedtotalcount', 'uint', 4),
  mudl: t('dmap.deletedidlisting', 'container'),
  mupd: t('dmap.updateresponse', 'container'),
  musr: t('dmap.serverrevision', 'uint', 4),
  muty: t('dmap.updatetype', 'uint', 1),

  // daap.* (library browsing)
  abal: t('daap.browsealbumlisting', 'container'),
  abar: t('daap.browseartistlisting', 'container'),
  abcp: t('daap.browsecomposerlisting', 'container'),
  abgn: t('daap.browsegenrelisting', 'container'),
  abpl: t('daap.baseplaylist', 'bool'),
  abro: t('daap.databasebrowse', 'container'),
  adbs: t('daap.databasesongs', 'container'),
  agac: t('daap.groupalbumcount', 'uint', 4),
  agal: t('daap.albumgrouping', 'container'),
  agar: t('daap.artistgrouping', 'container'),
  agrp: t('daap.songgrouping', 'string'),
  aply: t('daap.databaseplaylists', 'container'),
  aprm: t('daap.playlistrepeatmode', 'uint', 1),
  apro: t('daap.protocolversion', 'version'),
  apsm: t('daap.playlistshufflemode', 'uint', 1),
  apso: t('daap.playlistsongs', 'container'),
  arif: t('daap.resolveinfo', 'container'),
  arsv: t('daap.resolve', 'container'),
  asaa: t('daap.songalbumartist', 'string'),
  asac: t('daap.songartworkcount', 'uint', 2),
  asai: t('daap.songalbumid', 'uint', 8),
  asal: t('daap.songalbum', 'string'),
  asar: t('daap.songartist', 'string'),
  asbr: t('daap.songbitrate', 'uint', 2),
  asbt: t('daap.songbeatsperminute', 'uint', 2),
  ascd: t('daap.songcodectype', 'uint', 4),
  ascm: t('daap.songcomment', 'string'),
  ascn: t('daap.songcontentdescription', 'string'),
  asco: t('daap.songcompilation', 'bool'),
  ascp: t('daap.songcomposer', 'string'),
  ascr: t('daap.songcontentrating', 'uint', 1),
  ascs: t('daap.songcodecsubtype', 'uint', 4),
  asct: t('daap.songcategory', 'string'),
  asda: t('daap.songdateadded', 'date'),
  asdb: t('daap.songdisabled', 'bool'),
  asdc: t('daap.songdisccount', 'uint', 2),
  asdk: t('daap.songdatakind', 'uint', 1),
  asdm: t('daap.songdatemodified', 'date'),
  asdn: t('daap.songdiscnumber', 'uint', 2),
  asdr: t('daap.songdatereleased', 'date'),
  asdt: t('daap.songdescription', 'string'),
  ased: t('daap.songextradata', 'uint', 2),
  aseq: t('daap.songeqpreset', 'string'),
  asfm: t('daap.songformat', 'string'),
  asgn: t('daap.songgenre', 'string'),
  asgr: t('com.apple.itunes.gapless-resy', 'uint', 2),
  ashp: t('daap.songhasbeenplayed', 'bool'),
  askd: t('daap.songlastskipdate', 'date'),
  askp: t('daap.songuserskipcount', 'uint', 4),
  asky: t('daap.songkeywords', 'string'),
  aslc: t('daap.songlongcontentdescription', 'string'),
  aspc: t('daap.songuserplaycount', 'uint', 4),
  aspl: t('daap.songdateplayed', 'date'),
  asri: t('daap.songartistid', 'uint', 8),
  asrv: t('daap.songrelativevolume', 'int', 1),
  assa: t('daap.sortartist', 'string'),
  assc: t('daap.sortcomposer', 'string'),
  asse: t('unknown', 'uint', 8),
  assl: t('daap.sortalbumartist', 'string'),
  assn: t('daap.sortname', 'string'),
  assp: t('daap.songstoptime', 'uint', 4),
  assr: t('daap.songsamplerate', 'uint', 4),
  asst: t('daap.songstarttime', 'uint', 4),
  assu: t('daap.sortalbum', 'string'),
  assz: t('daap.songsize', 'uint', 4),
  astc: t('daap.songtrackcount', 'uint', 2),
  astm: t('daap.songtime', 'uint', 4),
  astn: t('daap.songtracknumber', 'uint', 2),
  asul: t('daap.songdataurl', 'string'),
  asur: t('daap.songuserrating', 'uint', 1),
  asyr: t('daap.songyear', 'uint', 2),
  atCV: t('unknown', 'uint', 4),
  atSV: t('unknown', 'uint', 4),
  ated: t('daap.supportsextradata', 'uint', 2),
  avdb: t('daap.serverdatabases', 'container'),

  // com.apple.itunes.* extensions
  aeAI: t('com.apple.itunes.itms-artistid', 'uint', 4),
  aeCI: t('com.apple.itunes.itms-composerid', 'uint', 4),
  aeCs: t('com.apple.itunes.artworkchecksum', 'uint', 4),
  aeEN: t('com.apple.itunes.episode-num-str', 'string'),
  aeES: t('com.apple.itunes.episode-sort', 'uint', 4),
  aeFP: t('com.apple.itunes.req-fplay', 'uint', 1),
  aeFR: t('unknown', 'uint', 1),
  aeGI: t('com.apple.itunes.itms-genreid', 'uint', 4),
  aeGs: t('com.apple.itunes.can-be-genius-seed', 'bool'),
  aeHV: t('com.apple.itunes.has-video', 'bool'),
  aeMK: t('com.apple.itunes.mediakind', 'uint', 1),
  aeMQ: t('unknown', 'bool'),
  aeMk: t('com.apple.itunes.extended-media-kind', 'uint', 4),
  aeNN: t('com.apple.itunes.network-name', 'string'),
  aeNV: t('com.apple.itunes.norm-volume', 'uint', 4),
  aePC: t('com.apple.itunes.is-podcast', 'bool'),
  aePI: t('com.apple.itunes.itms-playlistid', 'uint', 4),
  aePP: t('com.apple.itunes.is-podcast-playlist', 'bool'),
  aePS: t('com.apple.itunes.special-playlist', 'uint', 1),
  aeSF: t('com.apple.itunes.itms-storefrontid', 'uint', 4),
  aeSI: t('com.apple.itunes.itms-songid', 'uint', 4),
  aeSL: t('unknown', 'bool'),
  aeSN: t('com.apple.itunes.series-name', 'string'),
  aeSP: t('com.apple.itunes.smart-playlist', 'bool'),
  aeSR: t('unknown', 'bool'),
  aeSU: t('com.apple.itunes.season-num', 'uint', 4),
  aeSV: t('com.apple.itunes.music-sharing-version', 'version'),
  aeSX: t('unknown', 'uint', 4),
  aeTr: t('unknown', 'bool'),
  aead: t('unknown', 'raw'),
  aelb: t('com.apple.itunes.like-button', 'bool'),
  aels: t('com.apple.itunes.liked-state', 'uint', 1),

  // dacp.* / dmcp.* (remote control)
  caar: t('dacp.albumrepeat', 'uint', 4),
  caas: t('dacp.albumshuffle', 'uint', 4),
  caci: t('dacp.controlint', 'container'),
  cacr: t('dacp.cueresponse', 'container'),
  cafe: t('dacp.fullscreenenabled', 'bool'),
  cafs: t('dacp.fullscreen', 'uint', 1),
  cahp: t('dacp.hasplayed', 'bool'),
  caia: t('dacp.isactive', 'bool'),
  caiv: t('dacp.isavailable', 'bool'),
  caks: t('unknown', 'uint', 1),
  cana: t('daap.nowplayingartist', 'string'),
  cang: t('dacp.nowplayinggenre', 'string'),
  canl: t('daap.nowplayingalbum', 'string'),
  cann: t('daap.nowplayingtrack', 'string'),
  // Four 32-bit ids (database, playlist, container item, item), not nested TLVs.
  canp: t('daap.nowplayingid', 'raw'),
  cant: t('dacp.remainingtime', 'uint', 4),
  caov: t('unknown', 'uint', 1),
  capl: t('unknown', 'raw'),
  capr: t('dacp.protocolversion', 'version'),
  caps: t('dacp.playstatus', 'uint', 1),
  carp: t('dacp.repeatstate', 'uint', 1),
  casa: t('unknown', 'uint', 4),
  casc: t('unknown', 'uint', 1),
  cash: t('dacp.shufflestate', 'uint', 1),
  casp: t('dacp.speakers', 'container'),
  cass: t('unknown', 'uint', 1),
  cast: t('dacp.tracklength', 'uint', 4),
  casu: t('dacp.su', 'uint', 1),
  cavc: t('dacp.volumecontrollable', 'bool'),
  cave: t('dacp.dacpvisualizerenabled', 'bool'),
  cavs: t('dacp.visualizer', 'uint', 1),
  ceGS: t('com.apple.itunes.genius-selectable', 'string'),
  ceMQ: t('unknown', 'bool'),
  ceNQ: t('unknown', 'uint', 4),
  ceNR: t('unknown', 'raw'),
  ceQA: t('unknown', 'uint', 4),
  ceQI: t('com.apple.itunes.playqueue-item-index', 'uint', 4),
  ceQR: t('com.apple.itunes.playqueue-contents-response', 'container'),
  ceQS: t('com.apple.itunes.playqueue-sections', 'container'),
  ceQU: t('unknown', 'bool'),
  ceQa: t('com.apple.itunes.playqueue-album', 'string'),
  ceQg: t('com.apple.itunes.playqueue-genre', 'string'),
  ceQh: t('com.apple.itunes.playqueue-section-subtitle', 'string'),
  // Signed: the history section starts at a negative index (seen: -200).
  ceQi: t('com.apple.itunes.playqueue-section-start', 'int', 4),
  ceQk: t('com.apple.itunes.playqueue-section-key', 'string'),
  ceQl: t('com.apple.itunes.playqueue-section-label', 'string'),
  ceQm: t('com.apple.itunes.playqueue-section-count', 'uint', 4),
  ceQn: t('com.apple.itunes.playqueue-name', 'string'),
  ceQr: t('com.apple.itunes.playqueue-artist', 'string'),
  // Like canp: four 32-bit ids.
  ceQs: t('com.apple.itunes.playqueue-id', 'raw'),
  ceQu: t('unknown', 'bool'),
  // A binary plist of extra now-playing metadata; kept as bytes.
  ceSD: t('com.apple.itunes.playing-metadata', 'raw'),
  ceSG: t('unknown', 'bool'),
  ceSX: t('unknown', 'uint', 8),
  cmbe: t('dmcp.controlprompt-command', 'string'),
  // One byte: 0 for named prompts (select, menu), 0x30 for touch events.
  cmcc: t('dmcp.controlprompt-code', 'uint', 1),
  cmce: t('unknown', 'string'),
  cmcp: t('dmcp.controlprompt', 'container'),
  cmcv: t('unknown', 'raw'),
  cmgt: t('dmcp.getpropertyresponse', 'container'),
  cmik: t('unknown', 'uint', 1),
  cmmk: t('dmcp.mediakind', 'uint', 4),
  cmnm: t('dacp.devicename', 'string'),
  cmpa: t('dacp.pairinganswer', 'container'),
  cmpg: t('dacp.pairingguid', 'uint', 8),
  cmpr: t('dmcp.protocolversion', 'version'),
  cmrl: t('unknown', 'bool'),
  cmsb: t('unknown', 'uint', 4),
  cmsc: t('unknown', 'uint', 4),
  cmsp: t('unknown', 'uint', 1),
  cmsr: t('dmcp.serverrevision', 'uint', 4),
  cmst: t('dmcp.playstatus', 'container'),
  cmsv: t('unknown', 'uint', 1),
  cmte: t('unknown', 'string'),
  cmty: t('dacp.devicetype', 'string'),
  cmvo: t('dmcp.volume', 'uint', 4),
};

/** The spec of a tag code, or undefined when the table does not know it. */
export function dmapTag(code: string): DmapTagSpec | undefined {
  return Object.prototype.hasOwnProperty.call(DMAP_TAGS, code) ? DMAP_TAGS[code] : undefined;
}
