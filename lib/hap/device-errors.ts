/**
 * Turns the Error item a device puts in a pairing reply into an error the user can act on.
 * Shared by pair-setup and pair-verify on every transport (MRP, AirPlay, Companion).
 */
import { AuthenticationError, BackOffError, PairingError, type AtvError } from '../errors';
import { Tlv8ErrorCode, Tlv8Type, tlv8ErrorName, tlv8Uint, type Tlv8Map } from '../codecs/tlv8';

/** Which reply carried the error: the message names the step, and the step changes the meaning. */
export type HapPairingStep = 'pair-setup M2' | 'pair-setup M4' | 'pair-setup M6' | 'pair-verify M2' | 'pair-verify M4';

/** The typed error for a device's TLV error `code` (with its BackOff seconds, if it sent them). */
export function hapDeviceError(code: number, backOffSeconds: number | undefined, step: HapPairingStep): AtvError {
  const verifying = step.startsWith('pair-verify');
  if (verifying && code !== Tlv8ErrorCode.BackOff && code !== Tlv8ErrorCode.Authentication) {
    return new AuthenticationError(`the device refused pair-verify (${tlv8ErrorName(code)}): try again, and pair again if it keeps refusing`);
  }
  switch (code) {
    case Tlv8ErrorCode.BackOff: {
      const wait = backOffSeconds === undefined ? 'wait a while' : `wait ${backOffSeconds} s`;
      return new BackOffError(backOffSeconds ?? 0, `the device refuses pairing attempts for now after failed tries: ${wait} and try again`);
    }
    case Tlv8ErrorCode.Authentication:
      if (verifying) {
        return new AuthenticationError(
          'the device rejected our credentials (the pairing was probably removed on the device, or they belong to another device): pair again',
        );
      }
      if (step === 'pair-setup M4') {
        return new PairingError('wrong PIN: the device rejected it; start pairing again and enter the PIN shown on the screen');
      }
      return new PairingError(`the device rejected the pairing at ${step}: start pairing again`);
    case Tlv8ErrorCode.MaxPeers:
      return new PairingError(
        'the device cannot store any more pairings: remove an old pairing on the device (e.g. Settings > Remotes and Devices) and try again',
      );
    case Tlv8ErrorCode.MaxTries:
      return new PairingError('too many failed pairing attempts: the device refuses pairing until it restarts; restart it and try again');
    case Tlv8ErrorCode.Unavailable:
      return new PairingError(
        'the device does not accept pairing right now (pairing may be disabled, or it is already paired with another controller): check its settings',
      );
    case Tlv8ErrorCode.Busy:
      return new PairingError('the device is busy pairing with another controller: try again in a moment');
    default:
      return new PairingError(`the device reported a pairing error (${tlv8ErrorName(code)}) at ${step}: start pairing again`);
  }
}

/** Throws the matching typed error when `reply` carries an Error item. */
export function throwIfHapDeviceError(reply: Tlv8Map, step: HapPairingStep): void {
  const code = tlv8Uint(reply, Tlv8Type.Error);
  if (code === undefined) return;
  throw hapDeviceError(code, tlv8Uint(reply, Tlv8Type.BackOff), step);
}
