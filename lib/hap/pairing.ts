/**
 * The one pairing driver of every HAP protocol. The state machines of pair-setup.ts and
 * pair-verify.ts say what to send; this module sends it through an exchange function that
 * each protocol supplies for its transport: MRP wraps the TLV8 in a CRYPTO_PAIRING_MESSAGE,
 * AirPlay POSTs it to `/pair-setup` or `/pair-verify`, Companion puts it in PS_/PV_ frames
 * as OPACK. `HapPairingSession` is the user-facing pairing (begin → the device shows a PIN
 * → setPin → finish → credentials) that MRP, AirPlay and Companion share.
 */
import { randomUUID } from 'node:crypto';
import { AtvError, ClosedError, ConnectionLostError, InvalidArgumentError, PairingError, ProtocolError, AuthenticationError } from '../errors';
import { decodeTlv8Message } from '../codecs/tlv8';
import { formatHapCredentials, type HapCredentials } from './credentials';
import { throwIfHapDeviceError } from './device-errors';
import { normalizeHapPin, PairSetupClient, type PairSetupClientOptions } from './pair-setup';
import { PairVerifyClient } from './pair-verify';

export interface HapExchangeStep {
  phase: 'setup' | 'verify';
  /** The State item of the message sent (1, 3 or 5). */
  state: number;
  /**
   * To run on the reply as soon as it is read: pair-verify's last reply switches on the
   * session cipher, and the next frame of the same read may already be encrypted. An
   * exchange that reads whole replies may call it just before it resolves.
   */
  onReply?: (reply: Buffer) => void;
}

/** Sends one pairing message (TLV8) and resolves with the device's reply (TLV8). */
export type HapExchange = (message: Buffer, step: HapExchangeStep) => Promise<Buffer>;

/**
 * Pair-verify with stored credentials. Resolves with the X25519 shared secret (feed it to
 * `deriveChannelKeys`); `onVerified` gets it synchronously as the device's M4 is read.
 */
export async function hapPairVerify(
  credentials: HapCredentials,
  exchange: HapExchange,
  onVerified?: (sharedSecret: Buffer) => void,
): Promise<Buffer> {
  const verifier = new PairVerifyClient(credentials);
  const m2 = await exchange(verifier.m1(), { phase: 'verify', state: 1 });
  const step = verifier.handle(m2);
  if (step.kind !== 'send') throw new ProtocolError('pair-verify ended early');
  let secret: Buffer | undefined;
  await exchange(step.message, {
    phase: 'verify',
    state: 3,
    onReply: (m4) => {
      if (secret) return;
      const done = verifier.handle(m4);
      if (done.kind !== 'verified') throw new ProtocolError('pair-verify did not complete');
      secret = done.sharedSecret;
      onVerified?.(secret);
    },
  });
  if (!secret) throw new ProtocolError('pair-verify: the exchange did not hand over the final reply');
  return secret;
}

/** Pair-setup as the controller, over one exchange. */
export class HapPairSetup {
  readonly client: PairSetupClient;
  private m2: Buffer | null = null;

  constructor(
    private readonly exchange: HapExchange,
    options: PairSetupClientOptions = {},
  ) {
    this.client = new PairSetupClient(options);
  }

  /** M1 → M2: the device shows its PIN now. A device refusing (back-off, busy) throws here. */
  async start(): Promise<void> {
    const m2 = await this.exchange(this.client.m1(), { phase: 'setup', state: 1 });
    // Refusals arrive here, before any PIN is shown.
    throwIfHapDeviceError(decodeTlv8Message(m2, 'pair-setup M2'), 'pair-setup M2');
    this.m2 = m2;
  }

  /** M3..M6 with the PIN the device shows; resolves with the new credentials. */
  async finish(pin: string): Promise<HapCredentials> {
    if (this.m2 === null) throw new InvalidArgumentError('pair-setup: call start() and wait for the PIN first');
    this.client.setPin(pin);
    const credentials = await this.run(this.m2);
    if (credentials.kind !== 'paired') throw new ProtocolError('pair-setup ended without credentials');
    return credentials.credentials;
  }

  /** Transient pair-setup (M1..M4 with the fixed PIN): resolves with the SRP session key. */
  async transient(): Promise<Buffer> {
    if (!this.client.transient) throw new InvalidArgumentError('this pair-setup was not made transient');
    await this.start();
    const result = await this.run(this.m2!);
    if (result.kind !== 'transient') throw new ProtocolError('transient pair-setup ended without a session key');
    return result.sharedSecret;
  }

  private async run(m2: Buffer): Promise<{ kind: 'paired'; credentials: HapCredentials } | { kind: 'transient'; sharedSecret: Buffer }> {
    this.m2 = null;
    let step = this.client.handle(m2);
    let state = 3;
    while (step.kind === 'send') {
      const reply = await this.exchange(step.message, { phase: 'setup', state });
      step = this.client.handle(reply);
      state += 2;
    }
    return step;
  }
}

/**
 * The reading of a pairing that failed because the device dropped the connection (`err`, or
 * a ClosedError after the connection ended with `connectionError`): the user dismissed the
 * PIN dialog or it timed out. Null for any other failure.
 */
export function pairingDropped(deviceName: string, err: unknown, connectionError: AtvError | null): AtvError | null {
  if (err instanceof ConnectionLostError || (err instanceof ClosedError && connectionError instanceof ConnectionLostError)) {
    return new PairingError(`${deviceName} closed the connection during pairing (PIN dialog dismissed or timed out?): start again`, { cause: err });
  }
  return null;
}

/** What a protocol provides for pairing: its connection, and its words for failures. */
export interface HapPairingChannel {
  /** The device's name, for messages. */
  readonly deviceName: string;
  /**
   * Connects and does what precedes pair-setup (MRP: DEVICE_INFO naming us by `pairingId`;
   * AirPlay: `/pair-pin-start`); resolves with the exchange to pair over.
   */
  open(pairingId: Buffer): Promise<HapExchange>;
  /**
   * After pair-setup: proves the new credentials on the same connection (a pair-verify),
   * so a pairing the device will not accept is reported now rather than at the next connect.
   */
  verify?(credentials: HapCredentials, exchange: HapExchange): Promise<void>;
  /** Ends the connection. Safe to call twice. */
  close(): void;
  /** The protocol's reading of a failure (e.g. a dropped connection means the PIN dialog was dismissed). */
  explain?(error: unknown): AtvError | null;
}

export interface HapPairingOptions {
  /** What shows the PIN, for messages (default 'device'; MRP: 'Apple TV'). */
  screen?: string;
  /** The PIN, when already known (otherwise setPin before finish). */
  pin?: string;
  /** Payload of the Name item of M5 (AirPlay and Companion send OPACK `{name}`). */
  name?: Buffer;
  /** Our pairing id; default: a random UUID's ASCII bytes, as pyatv makes it. */
  pairingId?: Buffer | string;
}

/**
 * The pairing a user runs: `begin()` makes the device show a PIN, `setPin()` takes what the
 * user read, `finish()` completes pair-setup, proves the credentials with a pair-verify and
 * resolves with them in pyatv's string form (`ltpk:ltsk:atv_id:client_id`), so credentials
 * can be pasted to and from pyatv. Shaped as the library's `PairingSession`.
 */
export class HapPairingSession {
  readonly deviceProvidesPin = true;
  private readonly channel: HapPairingChannel;
  private readonly options: HapPairingOptions;
  /** Our pairing id (ASCII bytes). */
  readonly pairingId: Buffer;
  private setup: HapPairSetup | null = null;
  private exchange: HapExchange | null = null;
  private pin: string | undefined;
  private phase: 'idle' | 'begun' | 'finishing' | 'done' | 'closed' = 'idle';

  constructor(
    readonly protocol: string,
    channel: HapPairingChannel,
    options: HapPairingOptions = {},
  ) {
    this.channel = channel;
    this.options = options;
    const id = options.pairingId ?? randomUUID();
    this.pairingId = typeof id === 'string' ? Buffer.from(id, 'ascii') : Buffer.from(id);
    if (options.pin !== undefined) this.setPin(options.pin);
  }

  /** Connects and asks the device to pair: it then shows the PIN on screen. */
  async begin(): Promise<void> {
    if (this.phase === 'closed') throw new ClosedError('this pairing was closed; start a new one');
    if (this.phase !== 'idle') throw new InvalidArgumentError('pairing has already begun');
    this.phase = 'begun';
    try {
      this.exchange = await this.channel.open(this.pairingId);
      this.setup = new HapPairSetup(this.exchange, {
        pairingId: this.pairingId,
        ...(this.options.name !== undefined && { name: this.options.name }),
      });
      await this.setup.start();
    } catch (err) {
      await this.close();
      throw this.explain(err);
    }
  }

  /** The PIN shown on the device (4 digits). */
  setPin(pin: string): void {
    if (typeof pin !== 'string' || !/^\s*\d{4}\s*$/.test(pin)) {
      throw new InvalidArgumentError(`the PIN is the 4 digits shown on the ${this.options.screen ?? 'device'}`);
    }
    this.pin = normalizeHapPin(pin);
  }

  /** Sends the PIN proof and our keys, checks the device's, and verifies the new credentials. */
  async finish(): Promise<string> {
    if (this.phase === 'closed') throw new ClosedError('this pairing was closed; start a new one');
    if (this.phase !== 'begun' || this.setup === null || this.exchange === null) {
      throw new InvalidArgumentError('call begin() and wait for the PIN before finish()');
    }
    if (this.pin === undefined) throw new InvalidArgumentError(`enter the PIN shown on the ${this.options.screen ?? 'device'} (setPin) before finish()`);
    this.phase = 'finishing';
    try {
      const credentials = await this.setup.finish(this.pin);
      if (this.channel.verify) {
        try {
          await this.channel.verify(credentials, this.exchange);
        } catch (err) {
          if (err instanceof AuthenticationError) {
            throw new PairingError(`the device accepted the pairing but not the new credentials (${err.message}); try pairing again`, { cause: err });
          }
          throw err;
        }
      }
      this.phase = 'done';
      return formatHapCredentials(credentials);
    } catch (err) {
      throw this.explain(err);
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.channel.close();
  }

  private explain(err: unknown): unknown {
    const explained = this.channel.explain?.(err);
    if (explained) return explained;
    if (err instanceof AtvError) return err;
    return new PairingError(`pairing with ${this.channel.deviceName} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
