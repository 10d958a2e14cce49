/**
 * What a protocol tells the rest of the library about itself, once: the DNS-SD services that
 * offer it, how a manual host reaches it, its credentials, how it pairs, its session and
 * pairing factories and the capabilities its sessions offer. The table of these
 * (protocols/table.ts) is what the facade, discovery, the CLI and the config node read;
 * adding a protocol is one folder, one entry there and its simulator part.
 */
import type { Capability, DeviceConfig, PairingSession, Protocol, ServiceTypeSpec, SessionFactory } from '../device/interfaces';
import type { AdvertiserOptions } from '../mdns/types';
import { parseFullHapCredentials } from '../hap/credentials';
import type { Logger } from '../log';

export interface PairOptions {
  /** The device to pair with (required for every protocol but DMAP). */
  config?: DeviceConfig;
  /** DMAP: the PIN the user will type on the device (random when absent); others: the PIN the device shows, when already known. */
  pin?: string;
  /** The name the device shows for us (DMAP remote name, HAP controller name). */
  name?: string;
  /** IPv4 address of the interface to announce on (DMAP). */
  interface?: string;
  /** Give up after this many ms. */
  timeout?: number;
  /**
   * DMAP: how the remote announces itself (multicast on or off, a unicast DNS-SD responder
   * for a device that cannot multicast to us, e.g. the simulator under `--no-multicast`).
   */
  advertiser?: Omit<AdvertiserOptions, 'interface' | 'logger'>;
  /**
   * Told when the device sent a wrong PIN while the pairing goes on (DMAP: the device may
   * call again; where a wrong PIN ends the pairing, `finish()` rejects instead).
   */
  onWrongPin?: () => void;
  logger?: Logger;
}

export interface CredentialsSpec {
  /**
   * Throws an InvalidArgumentError saying what is wrong (naming the field, never repeating
   * the value, which is a secret) when `text` cannot be this protocol's credentials.
   */
  check(text: string): void;
  /** The format, for humans: editor placeholders, help texts, errors. */
  readonly format: string;
}

/** pyatv's HAP credentials (MRP, Companion, AirPlay 2): 4 hex fields. */
export const HAP_CREDENTIALS_FORMAT = 'ltpk:ltsk:atv_id:client_id (4 hex fields)';

/** The credentials of every protocol that pairs with HAP. */
export const HAP_CREDENTIALS: CredentialsSpec = { check: (text) => void parseFullHapCredentials(text), format: HAP_CREDENTIALS_FORMAT };

/**
 * How pairing goes: the device shows a PIN the user types into us (MRP, AirPlay,
 * Companion), we show a PIN the user types on the device (DMAP), or nothing is needed
 * (transient pairing).
 */
export type PairingStyle = 'device-shows-pin' | 'we-show-pin' | 'none';

export interface ProtocolDescriptor {
  readonly protocol: Protocol;
  /** How users see the name: `MRP`, `AirPlay`. */
  readonly label: string;
  /** Which devices speak it, for help texts. */
  readonly devices: string;
  /** The DNS-SD service types that offer it. */
  readonly services: readonly ServiceTypeSpec[];
  /** For a host given by hand: the usual port (null: it varies, ask the host), and a hint for the user. */
  readonly manualPort: { readonly usual: number | null; readonly hint: string };
  /** Its credentials, or null when it takes none. */
  readonly credentials: CredentialsSpec | null;
  /**
   * Sessions are opened only with credentials: a device advertises the protocol whether or
   * not the user paired it, and it is useless unpaired (Companion, as pyatv treats it).
   */
  readonly needsCredentials?: boolean;
  /** How it pairs, or null when we cannot pair with it. */
  readonly pairing: PairingStyle | null;
  /** Opens a session (absent: found by discovery, not spoken by the library yet). */
  readonly createSession?: SessionFactory;
  readonly createPairing?: (options: PairOptions) => PairingSession;
  /** What its sessions can do, for help texts and hints; the sessions' own `capabilities` decide. */
  readonly capabilities: readonly Capability[];
}
