/**
 * The simulator's Companion server: what an Apple TV answers on its `_companion-link._tcp`
 * port (pyatv: protocols/companion; its fake device, tests/fake_device/companion.py, is the
 * other side we check against). Companion frames on the shared channel; HAP pair-setup with
 * a PIN shown on "screen" (the 'pin' event) and pair-verify, both checked in full; then
 * ChaCha20-Poly1305 both ways and OPACK messages acting on the shared `SimulatorState`:
 * power (the Sleep and Wake buttons, FetchAttentionState, SystemStatus/TVSystemStatus pushed
 * to remotes that asked), apps and URLs, user accounts, the text field (`_tiStart`, `_tiC`,
 * `_tiStarted`/`_tiStopped`), buttons, touch gestures, media controls and volume (`_iMC` pushes).
 *
 * What a real device checks, this one checks: nothing but pairing before pair-verify; a
 * button up needs its button down (Sleep and Wake excepted: remotes send them alone); a
 * session stop must name a session this remote started; an edit must name the current text
 * session; unknown requests get CoreUtils' `No request handler` error. Power events go only
 * to a remote that gave a non-null `_systemInfo._i` (newer tvOS stops pushing otherwise).
 * FetchAttentionState is answered without `TVRCSessionStart`, as tvOS before 26 does, so
 * older clients (pyatv 0.16) work too.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { OpackObject, OpackValue } from '../codecs/opack';
import type { CommandName, InputAction } from '../device/commands';
import { InvalidArgumentError, NotSupportedError } from '../errors';
import { CounterNonceCipher } from '../hap/channel';
import { deriveChannelKeys } from '../hap/pair-verify';
import type { SrpGroup } from '../hap/srp';
import {
  COMPANION_BUTTON_STATE,
  COMPANION_MEDIA_FLAGS,
  COMPANION_SYSTEM_STATUS,
  COMPANION_TOUCH_PHASE,
  COMPANION_TOUCHPAD,
  companionHidButton,
  companionMediaControl,
  touchGesture,
  type CompanionHidButton,
  type TouchPoint,
} from '../protocols/companion/commands';
import {
  COMPANION_AUTH_FRAMES,
  COMPANION_FRAME,
  COMPANION_NOT_HANDLED,
  companionNumber,
  companionString,
  companionUint64,
  decodeCompanionMessage,
  decodeCompanionPairing,
  encodeCompanionMessage,
  encodeCompanionPairing,
  type CompanionContent,
  type CompanionMessage,
} from '../protocols/companion/messages';
import { readRtiTextOperations, rtiSessionArchive } from '../protocols/companion/rti';
import type { FramedChannel } from '../support/channel';
import { COMPANION_FRAMES, type Frame } from '../support/frames';
import type { HapPairingLink, HapPeer } from './hap-accessory';
import { HapTcpServer, type HapServerStats } from './hap-server';
import { printableName } from './listen';
import { SIMULATOR_MRP_MODEL } from './mrp-messages';
import { derivedUuid, type ServerAdvertisement, type SimulatorServer, type SimulatorServerContext } from './server';
import type { AttentionState, SimulatorState } from './state';

/** Remotes send small messages; a larger frame is garbage or an attack. */
export const COMPANION_SIMULATOR_MAX_REQUEST_BYTES = 256 * 1024;
/** A client that lets this much of our output pile up unread is dropped. */
const MAX_PENDING_OUTPUT = 16 * 1024 * 1024;
/** Buttons held at once, sessions and interests per remote: a remote needs a handful. */
const MAX_HELD_BUTTONS = 16;
const MAX_SESSIONS = 16;
const MAX_INTERESTS = 64;
/** A button held at least this long is a hold (pyatv holds 1 s; its fake device counts 0.5 s). */
const DEFAULT_HOLD_MS = 500;
/** `rpFl` of a pairable Apple TV 4K as pyatv's fake advertises it (bit 0x4000: PIN pairing). */
const SIMULATOR_COMPANION_FLAGS = '0x36782';
/** `rpVr` (the Companion version) of tvOS 14 (the fake device's). */
const SIMULATOR_COMPANION_VERSION = '230.1';

const ATTENTION_STATUS: { readonly [A in AttentionState]: number } = {
  awake: COMPANION_SYSTEM_STATUS.awake,
  screensaver: COMPANION_SYSTEM_STATUS.screensaver,
  asleep: COMPANION_SYSTEM_STATUS.asleep,
};

/** The buttons a remote presses that are commands of the table (the rest, PageUp, only recorded). */
const BUTTON_COMMANDS: Partial<Record<CompanionHidButton, CommandName>> = {
  up: 'up',
  down: 'down',
  left: 'left',
  right: 'right',
  menu: 'menu',
  select: 'select',
  home: 'home',
  volumeUp: 'volumeUp',
  volumeDown: 'volumeDown',
  siri: 'siri',
  screensaver: 'screensaver',
  playPause: 'playPause',
  channelUp: 'channelUp',
  channelDown: 'channelDown',
  guide: 'guide',
  pageDown: 'controlCenter',
};

/** The device's Companion identity, from the simulator's device id (stable across runs). */
export function companionDeviceIdentity(deviceId: string): { pairingId: string; stableId: string; txt: Record<string, string> } {
  const hash = (what: string) => createHash('sha256').update(`atvlink-simulator-companion-${what}:${deviceId}`).digest('hex');
  const mac = hash('bluetooth').slice(0, 12).toUpperCase().match(/../g)!.join(':');
  return {
    pairingId: derivedUuid(`atvlink-simulator-companion-pairing:${deviceId}`, 'sha256'),
    stableId: hash('rpMRtID').slice(0, 32).toUpperCase(),
    // The rotating ids of a real device, fixed here: only rpMd, rpFl, rpVr and rpMRtID mean anything to a remote.
    txt: { rpHA: hash('rpHA').slice(0, 12), rpHN: hash('rpHN').slice(0, 12), rpAD: hash('rpAD').slice(0, 12), rpHI: hash('rpHI').slice(0, 12), rpBA: mac },
  };
}

export interface CompanionSimulatorOptions extends SimulatorServerContext {
  /** The 4-digit PIN the device "shows" when a remote starts pair-setup. */
  pin: string;
  /** The device's long-term Ed25519 secret (32-byte seed); random per server by default. */
  seed?: Buffer;
  /** Another SRP group, for fast tests; real devices and clients use HAP's. */
  srpGroup?: SrpGroup;
  /** A button held at least this long is a hold (default 500 ms). */
  holdMs?: number;
}

/** The Companion server's counters. */
export type CompanionServerStats = HapServerStats;

interface Connection extends HapPeer {
  readonly channel: FramedChannel;
  /** `_systemInfo` gave a non-null `_i`: the device pushes power events to it. */
  identified: boolean;
  /** Combined 64-bit ids of the sessions this remote started. */
  readonly sessions: Set<bigint>;
  /** Events the remote registered interest in. */
  readonly interests: Set<string>;
  /** A text-input session is open: focus changes are pushed to it. */
  textSession: boolean;
  /** `_hidC` code → ms it went down. */
  readonly held: Map<number, number>;
  /** The finger on the touch surface, from where it went down to where it is. */
  touch: { from: TouchPoint; to: TouchPoint } | null;
  xid: number;
}

export class CompanionSimulatorServer extends HapTcpServer<Connection> implements SimulatorServer {
  readonly protocol = 'companion' as const;
  readonly identity: ReturnType<typeof companionDeviceIdentity>;

  private readonly state: SimulatorState;
  private readonly name: string;
  private readonly holdMs: number;
  /** The model the device says it is (the Apple TV it plays). */
  private readonly model: string;
  /** The UUID of the focused field's text session (new for every focus). */
  private fieldSession: Buffer = randomBytes(16);
  private lastFlags = -1;

  private readonly onAttention = (state: AttentionState): void => {
    const content = { state: ATTENTION_STATUS[state] };
    for (const conn of this.connections.keys()) {
      if (!conn.verified || !conn.identified) continue;
      for (const event of ['SystemStatus', 'TVSystemStatus']) if (conn.interests.has(event)) this.sendEvent(conn, event, content);
    }
  };
  private readonly onTextFocus = (focused: boolean): void => {
    if (focused) this.fieldSession = randomBytes(16);
    for (const conn of this.connections.keys()) {
      if (!conn.verified || !conn.textSession) continue;
      this.sendEvent(conn, focused ? '_tiStarted' : '_tiStopped', focused ? this.textSessionContent() : {});
    }
  };
  private readonly onPlayback = (): void => {
    const flags = this.mediaFlags();
    if (flags !== this.lastFlags) this.pushFlags(flags);
  };
  /** The remote reads the new volume when it hears the volume flag (pyatv's CompanionAudio). */
  private readonly onVolume = (): void => this.pushFlags(this.mediaFlags());

  constructor(options: CompanionSimulatorOptions) {
    const identity = companionDeviceIdentity(options.deviceId);
    super({
      protocol: 'companion',
      label: 'Companion',
      host: options.host,
      port: options.port,
      credentials: options.credentials,
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
      pin: options.pin,
      pairingId: identity.pairingId,
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.srpGroup !== undefined ? { srpGroup: options.srpGroup } : {}),
      format: COMPANION_FRAMES,
      maxFrameBytes: COMPANION_SIMULATOR_MAX_REQUEST_BYTES,
      maxQueuedWriteBytes: MAX_PENDING_OUTPUT,
    });
    this.identity = identity;
    this.state = options.state;
    this.name = options.name;
    this.holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
    this.model = options.profile?.model ?? SIMULATOR_MRP_MODEL;
  }

  protected override started(): void {
    this.lastFlags = this.mediaFlags();
    this.state.on('attention', this.onAttention);
    this.state.on('textFocus', this.onTextFocus);
    this.state.on('change', this.onPlayback);
    this.state.on('volume', this.onVolume);
  }

  protected override stopping(): void {
    this.state.off('attention', this.onAttention);
    this.state.off('textFocus', this.onTextFocus);
    this.state.off('change', this.onPlayback);
    this.state.off('volume', this.onVolume);
  }

  advertisements(): ServerAdvertisement[] {
    return [
      {
        type: '_companion-link._tcp',
        instance: this.name,
        port: this.port,
        txt: {
          rpMac: '1',
          ...this.identity.txt,
          rpVr: SIMULATOR_COMPANION_VERSION,
          rpMd: this.model,
          rpFl: SIMULATOR_COMPANION_FLAGS,
          rpMRtID: this.identity.stableId,
        },
      },
    ];
  }

  describe(): string[] {
    return [
      `Companion on ${this.host}:${this.port} (${this.model}; apps, power, accounts, keyboard)`,
      '  pairing: HAP with a 4-digit PIN, shown when a remote starts pairing',
    ];
  }

  // -------------------------------------------------------------------------------------
  // Connections

  protected connection(id: number, channel: FramedChannel): Connection {
    return {
      id,
      channel,
      verified: false,
      closed: false,
      remoteName: null,
      identified: false,
      sessions: new Set(),
      interests: new Set(),
      textSession: false,
      held: new Map(),
      touch: null,
      xid: randomInt(0, 0x10000),
    };
  }

  protected receive(conn: Connection, { type, payload }: Frame): void {
    if (COMPANION_AUTH_FRAMES.has(type)) {
      if (conn.verified) {
        this.logger.debug(`Companion simulator: a pairing frame on the verified connection ${conn.id} ignored`);
        return;
      }
      let tlv: Buffer;
      try {
        tlv = decodeCompanionPairing(payload);
      } catch (err) {
        this.drop(conn, (err as Error).message);
        return;
      }
      this.pairing(conn, type, tlv);
      return;
    }
    if (type !== COMPANION_FRAME.E_OPACK) {
      // A real device keeps quiet about NoOp and the session/family frames remotes do not use.
      if (type !== COMPANION_FRAME.NoOp) this.logger.debug(`Companion simulator: frame type ${type} ignored`);
      return;
    }
    if (!conn.verified) {
      this.drop(conn, 'an encrypted message before pair-verify');
      return;
    }
    let message: CompanionMessage;
    try {
      message = decodeCompanionMessage(payload);
    } catch (err) {
      this.drop(conn, (err as Error).message);
      return;
    }
    this.counters.messages += 1;
    try {
      if (message.kind === 'request') this.request(conn, message);
      else if (message.kind === 'event') this.event(conn, message);
      else this.logger.debug('Companion simulator: a response from a remote ignored');
    } catch (err) {
      // A bug of ours must not take the simulator down: lose this client, keep the rest.
      this.logger.warn(`Companion simulator: ${message.name ?? '?'} failed: ${err instanceof Error ? err.message : String(err)}`);
      this.drop(conn, 'internal error');
    }
  }

  private send(conn: Connection, payload: Buffer): void {
    if (conn.closed || !conn.channel.isOpen) return;
    conn.channel.send(payload, COMPANION_FRAME.E_OPACK);
  }

  private respond(conn: Connection, request: CompanionMessage, content: OpackValue = {}): void {
    this.send(conn, encodeCompanionMessage({ kind: 'response', xid: request.xid ?? 0, content }));
  }

  private refuse(conn: Connection, request: CompanionMessage, message: string, code: number | null = null): void {
    this.send(conn, encodeCompanionMessage({ kind: 'response', xid: request.xid ?? 0, error: { message, code, domain: 'RPErrorDomain' } }));
  }

  private sendEvent(conn: Connection, name: string, content: OpackValue): void {
    const xid = conn.xid;
    conn.xid = xid >= 0x7fffffff ? 0 : xid + 1;
    this.send(conn, encodeCompanionMessage({ kind: 'event', name, xid, content }));
  }

  // -------------------------------------------------------------------------------------
  // Pairing

  private pairing(conn: Connection, type: number, tlv: Buffer): void {
    const setup = type === COMPANION_FRAME.PS_Start || type === COMPANION_FRAME.PS_Next;
    const link: HapPairingLink = {
      // Replies come as _Next frames, whatever started the exchange.
      reply: (message) => conn.channel.send(encodeCompanionPairing(message), setup ? COMPANION_FRAME.PS_Next : COMPANION_FRAME.PV_Next),
      secure: (secret) =>
        conn.channel.switchTo(COMPANION_FRAMES, new CounterNonceCipher(deriveChannelKeys(secret, 'companion', { role: 'accessory' }), 'counter-then-zeros')),
    };
    if (setup) this.accessory.pairSetup(conn, tlv, link);
    else this.accessory.pairVerify(conn, tlv, link);
  }

  // -------------------------------------------------------------------------------------
  // Requests

  private request(conn: Connection, message: CompanionMessage): void {
    const name = message.name ?? '';
    const c = message.content;
    switch (name) {
      case '_systemInfo': {
        const id = c.get('_i');
        conn.identified = id !== undefined && id !== null;
        conn.remoteName = printableName(companionString(c.get('name'))) ?? conn.remoteName;
        this.respond(conn, message);
        this.record(conn, name, 0, { identified: String(conn.identified) });
        return;
      }
      case '_sessionStart': {
        const local = companionUint64(c.get('_sid'));
        if (local === null || companionString(c.get('_srvT')) === null) return this.invalid(conn, message, 'a session needs _srvT and _sid');
        if (conn.sessions.size >= MAX_SESSIONS) return this.invalid(conn, message, 'too many sessions');
        const remote = randomInt(1, 0x100000000);
        conn.sessions.add((BigInt(remote) << 32n) | BigInt.asUintN(32, local));
        this.respond(conn, message, { _sid: remote });
        this.record(conn, name, 0);
        return;
      }
      case '_sessionStop': {
        const sid = companionUint64(c.get('_sid'));
        if (sid === null || !conn.sessions.delete(sid)) return this.invalid(conn, message, 'Invalid SID');
        this.respond(conn, message);
        this.record(conn, name, 0);
        return;
      }
      case 'TVRCSessionStart':
      case '_touchStop':
        this.respond(conn, message);
        this.record(conn, name, 0);
        return;
      case '_touchStart': {
        const width = companionNumber(c.get('_width'));
        const height = companionNumber(c.get('_height'));
        if (!(width !== null && width > 0 && width <= 1000 && height !== null && height > 0 && height <= 1000)) {
          return this.invalid(conn, message, 'Invalid touchpad width or height');
        }
        this.respond(conn, message);
        this.record(conn, name, 0);
        return;
      }
      case 'FetchAttentionState':
        this.respond(conn, message, { state: ATTENTION_STATUS[this.state.attention] });
        this.record(conn, name, 0, { state: this.state.attention });
        return;
      case '_hidC':
        this.button(conn, message);
        return;
      case '_mcc':
        this.mediaControl(conn, message);
        return;
      case 'FetchLaunchableApplicationsEvent':
        this.respond(conn, message, new Map(this.state.apps.map((a) => [a.bundleId, a.name])));
        this.record(conn, name, 0);
        return;
      case '_launchApp': {
        const target = companionString(c.get('_bundleID')) ?? companionString(c.get('_urlS'));
        if (target === null) return this.invalid(conn, message, 'give _bundleID or _urlS');
        this.act(conn, message, () => this.state.launchApp(target), { target });
        return;
      }
      case 'FetchUserAccountsEvent':
        this.respond(conn, message, new Map(this.state.accounts.map((a) => [a.id, a.name])));
        this.record(conn, name, 0);
        return;
      case 'SwitchUserAccountEvent': {
        const id = companionString(c.get('SwitchAccountID'));
        if (id === null) return this.invalid(conn, message, 'give SwitchAccountID');
        this.act(conn, message, () => this.state.switchAccount(id), { account: id });
        return;
      }
      case '_tiStart':
        conn.textSession = true;
        this.respond(conn, message, this.textSessionContent());
        this.record(conn, name, 0, { focused: String(this.state.textFocused) });
        return;
      case '_tiStop':
        conn.textSession = false;
        this.respond(conn, message);
        this.record(conn, name, 0);
        return;
      default:
        this.refuse(conn, message, 'No request handler', COMPANION_NOT_HANDLED);
        this.record(conn, printableName(name) ?? '', COMPANION_NOT_HANDLED);
    }
  }

  private invalid(conn: Connection, message: CompanionMessage, why: string): void {
    this.refuse(conn, message, why);
    this.record(conn, message.name ?? '', -1, { error: why });
  }

  /** Runs a state change; what the state refuses (not installed, unknown account) goes back as an error. */
  private act(conn: Connection, message: CompanionMessage, change: () => void, query: Record<string, string>): void {
    try {
      change();
    } catch (err) {
      if (!(err instanceof InvalidArgumentError || err instanceof NotSupportedError)) throw err;
      this.invalid(conn, message, err.message);
      return;
    }
    this.respond(conn, message);
    this.record(conn, message.name ?? '', 0, query);
  }

  private textSessionContent(): OpackObject {
    return this.state.textFocused ? { _tiD: rtiSessionArchive(this.fieldSession, this.state.text) } : {};
  }

  /** `_hidC`: a button goes down, then up; Sleep and Wake act on their own. */
  private button(conn: Connection, message: CompanionMessage): void {
    const state = companionNumber(message.content.get('_hBtS'));
    const code = companionNumber(message.content.get('_hidC'));
    const button = code === null ? null : companionHidButton(code);
    if (button === null || (state !== COMPANION_BUTTON_STATE.down && state !== COMPANION_BUTTON_STATE.up)) {
      return this.invalid(conn, message, 'unknown button or button state');
    }
    const now = Date.now();
    if (state === COMPANION_BUTTON_STATE.down) {
      if (conn.held.size < MAX_HELD_BUTTONS || conn.held.has(code!)) conn.held.set(code!, now);
      this.respond(conn, message);
      return;
    }
    const downAt = conn.held.get(code!);
    conn.held.delete(code!);
    if (button === 'sleep' || button === 'wake') {
      if (button === 'sleep') this.state.turnOff();
      else this.state.turnOn();
      this.respond(conn, message);
      this.record(conn, '_hidC', 0, { button });
      return;
    }
    if (downAt === undefined) return this.invalid(conn, message, `button up without button down (${button})`);
    const action: InputAction = now - downAt >= this.holdMs ? 'hold' : 'single';
    const command = BUTTON_COMMANDS[button];
    try {
      if (command === 'volumeUp' || command === 'volumeDown' || command === 'playPause') this.state.command(command);
      else if (command !== undefined) this.state.pressKey(command, action);
    } catch (err) {
      if (!(err instanceof NotSupportedError)) throw err;
      this.logger.debug(`Companion simulator: ${button} had nothing to act on`);
    }
    this.respond(conn, message);
    this.record(conn, '_hidC', 0, { button, action });
  }

  /** `_mcc`: transport, volume and skip. */
  private mediaControl(conn: Connection, message: CompanionMessage): void {
    const code = companionNumber(message.content.get('_mcc'));
    const control = code === null ? null : companionMediaControl(code);
    const reply = (content: OpackObject = {}) => {
      this.respond(conn, message, content);
      this.record(conn, '_mcc', 0, { control: control ?? '' });
    };
    try {
      switch (control) {
        case 'play':
        case 'pause':
          this.state.command(control);
          return reply();
        case 'nextTrack':
          this.state.next();
          return reply();
        case 'previousTrack':
          this.state.previous();
          return reply();
        case 'getVolume':
          return reply({ _vol: this.state.volume / 100 });
        case 'setVolume': {
          const vol = companionNumber(message.content.get('_vol'));
          if (vol === null || !Number.isFinite(vol) || vol < 0 || vol > 1) return this.invalid(conn, message, 'volume must be from 0.0 to 1.0');
          this.state.setVolume(Math.round(vol * 10_000) / 100);
          return reply();
        }
        case 'skipBy': {
          const seconds = companionNumber(message.content.get('_skpS'));
          if (seconds === null || !Number.isFinite(seconds)) return this.invalid(conn, message, 'give _skpS in seconds');
          if (seconds >= 0) this.state.skipForward(seconds);
          else this.state.skipBackward(-seconds);
          return reply();
        }
        default:
          return this.invalid(conn, message, 'unsupported media control');
      }
    } catch (err) {
      if (!(err instanceof NotSupportedError || err instanceof InvalidArgumentError)) throw err;
      this.invalid(conn, message, err.message);
    }
  }

  // -------------------------------------------------------------------------------------
  // Events from remotes

  private event(conn: Connection, message: CompanionMessage): void {
    switch (message.name) {
      case '_interest':
        this.interest(conn, message.content);
        return;
      case '_tiC':
        this.textOperation(conn, message.content);
        return;
      case '_hidT':
        this.touchEvent(conn, message.content);
        return;
      default:
        // Whatever else a remote tells: nothing to answer.
        this.logger.debug(`Companion simulator: event ${message.name ?? '?'} ignored`);
    }
  }

  private interest(conn: Connection, content: CompanionContent): void {
    const names = (key: string): string[] => {
      const list = content.get(key);
      return Array.isArray(list) ? list.filter((n): n is string => typeof n === 'string') : [];
    };
    for (const name of names('_regEvents')) {
      if (conn.interests.size >= MAX_INTERESTS) break;
      conn.interests.add(name);
      // A remote that registers for media-control flags hears the current ones at once (pyatv's fake does the same).
      if (name === '_iMC') this.sendEvent(conn, '_iMC', { _mcF: this.mediaFlags() });
    }
    for (const name of names('_deregEvents')) conn.interests.delete(name);
    this.record(conn, '_interest', 0, { events: [...conn.interests].join(',') });
  }

  /**
   * `_hidT`: a finger on the touch surface. From press to release it is one gesture: a tap
   * when the finger hardly moved, else a swipe along the longer way it went.
   */
  private touchEvent(conn: Connection, content: CompanionContent): void {
    const phase = companionNumber(content.get('_tPh'));
    const x = companionNumber(content.get('_cx'));
    const y = companionNumber(content.get('_cy'));
    if (x === null || y === null || !(x >= 0 && x <= COMPANION_TOUCHPAD.width && y >= 0 && y <= COMPANION_TOUCHPAD.height)) return;
    const point: TouchPoint = [x, y];
    switch (phase) {
      case COMPANION_TOUCH_PHASE.press:
        conn.touch = { from: point, to: point };
        return;
      case COMPANION_TOUCH_PHASE.hold:
        if (conn.touch) conn.touch.to = point;
        return;
      case COMPANION_TOUCH_PHASE.release: {
        const from = conn.touch?.from;
        conn.touch = null;
        if (from === undefined) return;
        const gesture = touchGesture(from, point);
        this.state.pressKey(gesture);
        this.record(conn, '_hidT', 0, { gesture });
        return;
      }
      default:
        // A click is the touch surface pressed down: remotes send it with a Select button event.
        return;
    }
  }

  /** `_tiC`: an edit of the focused field, for the current text session only. */
  private textOperation(conn: Connection, content: CompanionContent): void {
    const data = content.get('_tiD');
    if (!(data instanceof Uint8Array)) return;
    let edit;
    try {
      edit = readRtiTextOperations(data);
    } catch (err) {
      this.logger.debug(`Companion simulator: unreadable text operation (${(err as Error).message})`);
      return;
    }
    if (!this.state.textFocused || edit.sessionUuid === null || !edit.sessionUuid.equals(this.fieldSession)) {
      this.logger.debug('Companion simulator: a text operation for another session ignored');
      return;
    }
    if (edit.textToAssert === '') this.state.clearText();
    if (edit.insertionText !== null) this.state.typeText(edit.insertionText);
    this.record(conn, '_tiC', 0, { cleared: String(edit.textToAssert === ''), typed: String(edit.insertionText?.length ?? 0) });
  }

  // -------------------------------------------------------------------------------------

  /** The media controls the player takes now (`_mcF`). */
  private mediaFlags(): number {
    const snap = this.state.snapshot();
    let flags = COMPANION_MEDIA_FLAGS.volume;
    if (snap.track !== null) {
      flags |= snap.status === 'playing' ? COMPANION_MEDIA_FLAGS.pause : COMPANION_MEDIA_FLAGS.play;
      flags |= COMPANION_MEDIA_FLAGS.nextTrack | COMPANION_MEDIA_FLAGS.previousTrack | COMPANION_MEDIA_FLAGS.skipForward | COMPANION_MEDIA_FLAGS.skipBackward;
    } else {
      flags |= COMPANION_MEDIA_FLAGS.play;
    }
    return flags;
  }

  private pushFlags(flags: number): void {
    this.lastFlags = flags;
    for (const conn of this.connections.keys()) if (conn.verified && conn.interests.has('_iMC')) this.sendEvent(conn, '_iMC', { _mcF: flags });
  }
}

/** Creates the Companion server from the simulator's shared context. */
export function createCompanionServer(
  context: SimulatorServerContext & Omit<CompanionSimulatorOptions, keyof SimulatorServerContext>,
): CompanionSimulatorServer {
  return new CompanionSimulatorServer(context);
}
