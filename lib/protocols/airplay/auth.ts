/**
 * HAP over AirPlay's HTTP: the pairing TLV8s are POSTed to `/pair-setup` and `/pair-verify`
 * with `X-Apple-HKP: 3` (PIN pairing and its pair-verify) or `4` (transient pairing, HomePods);
 * `/pair-pin-start` comes first, and is what makes an Apple TV show its PIN (pyatv:
 * protocols/airplay/auth/hap.py, hap_transient.py). Once pair-verify (or transient M4) is
 * done, the same connection turns into the encrypted control channel, keyed with
 * `Control-Salt` from the shared secret (pyatv: protocols/airplay/auth/__init__.py).
 */
import type { HttpResponse } from '../../codecs/http';
import { decodeTlv8 } from '../../codecs/tlv8';
import { AuthenticationError, PairingError, ProtocolError } from '../../errors';
import type { HapCredentials, HapPairingCredentials } from '../../hap/credentials';
import { hapPairVerify, HapPairSetup, type HapExchange, type HapExchangeStep } from '../../hap/pairing';
import { deriveChannelKeys } from '../../hap/pair-verify';
import { AIRPLAY_PAIRING_USER_AGENT, expectOk, type AirPlayConnection } from './connection';

/** `X-Apple-HKP`: 3 for PIN pairing and pair-verify, 4 for transient pairing. */
export type AirPlayHkp = 3 | 4;

/** The headers of every pairing request, in pyatv's order. */
export function airplayPairingHeaders(hkp: AirPlayHkp): Array<[string, string | number]> {
  return [
    ['User-Agent', AIRPLAY_PAIRING_USER_AGENT],
    ['Connection', 'keep-alive'],
    ['X-Apple-HKP', hkp],
    ['Content-Type', 'application/octet-stream'],
  ];
}

/** `POST /pair-pin-start`: an Apple TV shows its PIN now (a HomePod just answers). */
export async function airplayPinStart(connection: AirPlayConnection, hkp: AirPlayHkp): Promise<void> {
  const response = await connection.request({ method: 'POST', target: '/pair-pin-start', headers: airplayPairingHeaders(hkp) });
  expectOk(response, 'POST /pair-pin-start', connection.endpoint);
}

/**
 * The HAP exchange over AirPlay: each TLV8 is POSTed to `/pair-setup` or `/pair-verify`;
 * the answer's body is the device's TLV8 (whatever its Content-Type says: pyatv's fake device
 * labels it a binary plist). A refused request is the typed error of its status.
 */
export function airplayHapExchange(connection: AirPlayConnection, hkp: AirPlayHkp): HapExchange {
  return async (tlv: Buffer, step: HapExchangeStep): Promise<Buffer> => {
    const target = step.phase === 'setup' ? '/pair-setup' : '/pair-verify';
    const what = `POST ${target} (M${step.state})`;
    const bodyOf = (response: HttpResponse): Buffer => {
      expectOk(response, what, connection.endpoint);
      try {
        decodeTlv8(response.body);
      } catch (err) {
        throw new ProtocolError(`${connection.endpoint} answered ${what} with something that is not pairing data`, { cause: err });
      }
      return response.body;
    };
    const onReply = step.onReply;
    const response = await connection.request({
      method: 'POST',
      target,
      headers: airplayPairingHeaders(hkp),
      body: tlv,
      ...(onReply && { onResponse: (r) => onReply(bodyOf(r)) }),
    });
    return bodyOf(response);
  };
}

/**
 * Makes an open AirPlay connection the encrypted control channel: pair-verify with HAP
 * credentials, or transient pair-setup (no credentials at all). Resolves with the shared
 * secret every other channel of the session is keyed from. Legacy AirPlay credentials
 * cannot do this (they predate HAP): an AuthenticationError says to pair again.
 */
export async function authenticateControlChannel(connection: AirPlayConnection, credentials: HapPairingCredentials): Promise<Buffer> {
  switch (credentials.kind) {
    case 'hap':
      return verifyControlChannel(connection, credentials);
    case 'transient':
      return transientControlChannel(connection);
    case 'legacy':
      throw new AuthenticationError(
        `${connection.endpoint}: these are legacy AirPlay credentials (from an AirPlay 1 pairing), which cannot open an AirPlay 2 session: pair AirPlay again`,
      );
  }
}

/** Pair-verify (HKP 3); the control cipher goes on as M4 is read. */
export async function verifyControlChannel(connection: AirPlayConnection, credentials: HapCredentials): Promise<Buffer> {
  return hapPairVerify(credentials, airplayHapExchange(connection, 3), (secret) =>
    connection.enableEncryption(deriveChannelKeys(secret, 'airplayControl')),
  );
}

/** Transient pairing (HKP 4, PIN 3939, M1..M4); its SRP session key keys the channels. */
export async function transientControlChannel(connection: AirPlayConnection): Promise<Buffer> {
  await airplayPinStart(connection, 4);
  let secret: Buffer;
  try {
    secret = await new HapPairSetup(airplayHapExchange(connection, 4), { transient: true }).transient();
  } catch (err) {
    // A device that refuses transient pairing wants a real pairing (or allows nobody).
    if (err instanceof PairingError) {
      throw new AuthenticationError(`${connection.endpoint} refused transient pairing (${err.message}): pair AirPlay with the PIN it shows`, { cause: err });
    }
    throw err;
  }
  connection.enableEncryption(deriveChannelKeys(secret, 'airplayControl'));
  return secret;
}
