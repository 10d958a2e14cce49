/**
 * SRP-6a as HAP pair-setup uses it (pyatv: auth/hap_srp.py): the RFC 5054 3072-bit group, g = 5,
 * SHA-512, username "Pair-Setup", password = the PIN as a decimal string, K = H(S).
 * Both sides: the controller (`HapSrpClient`) and the accessory (`HapSrpServer`, used by our
 * simulator). The arithmetic is fast-srp-hap's; this module only fixes the parameters and
 * turns its plain errors into typed ones.
 */
import { SRP, SrpClient, SrpServer, type SrpParams } from 'fast-srp-hap';
import { InvalidArgumentError, ProtocolError } from '../errors';
import { randomKeyBytes } from './keys';

/** An SRP group: N, g and the hash. */
export type SrpGroup = SrpParams;

/** The group every HAP pair-setup uses (RFC 5054 3072-bit, g = 5, SHA-512). */
export const HAP_SRP_GROUP: SrpGroup = SRP.params.hap;
export const HAP_SRP_USERNAME = 'Pair-Setup';
/** The salt length HAP accessories send in M2. */
export const HAP_SRP_SALT_LENGTH = 16;

export interface SrpOptions {
  /** Defaults to `HAP_SRP_GROUP`; other groups exist for test vectors and legacy AirPlay. */
  group?: SrpGroup;
  /** Defaults to "Pair-Setup". */
  username?: string;
  /** The secret exponent (a or b); random 32 bytes by default. */
  privateKey?: Buffer;
}

/**
 * A random 32-byte exponent whose first byte is not zero: fast-srp-hap prints a console
 * warning for exponents shorter than 32 significant bytes, and library code must not write
 * to the console.
 */
function randomExponent(): Buffer {
  let key = randomKeyBytes(32);
  while (key[0] === 0) key = randomKeyBytes(32);
  return key;
}

function groupBytes(group: SrpGroup): number {
  return group.N_length_bits / 8;
}

/** The controller side: give it the device's salt, our PIN, then the device's public key B. */
export class HapSrpClient {
  private readonly srp: SrpClient;
  private readonly group: SrpGroup;
  private serverKeySet = false;

  constructor(salt: Buffer, password: string, options: SrpOptions = {}) {
    this.group = options.group ?? HAP_SRP_GROUP;
    if (salt.length === 0) throw new ProtocolError('the device sent an empty SRP salt');
    this.srp = new SrpClient(
      this.group,
      salt,
      Buffer.from(options.username ?? HAP_SRP_USERNAME, 'utf8'),
      Buffer.from(password, 'utf8'),
      options.privateKey ?? randomExponent(),
    );
  }

  /** Our public value A (padded to the group size). */
  get publicKey(): Buffer {
    return this.srp.computeA();
  }

  /** Takes the device's public value B; a value outside 1..N-1 is a `ProtocolError`. */
  setServerPublicKey(serverPublicKey: Buffer): void {
    if (serverPublicKey.length === 0 || serverPublicKey.length > groupBytes(this.group)) {
      throw new ProtocolError(`the device's SRP public key has ${serverPublicKey.length} bytes, expected ${groupBytes(this.group)}`);
    }
    try {
      this.srp.setB(serverPublicKey);
    } catch (err) {
      throw new ProtocolError("the device's SRP public key is invalid", { cause: err });
    }
    this.serverKeySet = true;
  }

  private requireServerKey(): void {
    if (!this.serverKeySet) throw new InvalidArgumentError('SRP: the server public key must be set first');
  }

  /** Our proof M1 = H(H(N) xor H(g), H(I), s, A, B, K). */
  get proof(): Buffer {
    this.requireServerKey();
    return this.srp.computeM1();
  }

  /** True when the device's proof M2 = H(A, M1, K) shows it knows the same password. */
  verifyServerProof(serverProof: Buffer): boolean {
    this.requireServerKey();
    try {
      this.srp.checkM2(serverProof);
      return true;
    } catch {
      return false;
    }
  }

  /** The shared session key K = H(S). */
  get sessionKey(): Buffer {
    this.requireServerKey();
    return this.srp.computeK();
  }

  /** The premaster secret S, exposed for the RFC 5054 test vector. */
  get premasterSecret(): Buffer {
    this.requireServerKey();
    return (this.srp as unknown as { _S: Buffer })._S;
  }
}

export interface SrpServerOptions extends SrpOptions {
  /** Defaults to 16 random bytes. */
  salt?: Buffer;
}

/** The accessory side: it picks the salt, knows the PIN, and checks the controller's proof. */
export class HapSrpServer {
  readonly salt: Buffer;
  private readonly srp: SrpServer;
  private readonly group: SrpGroup;
  private clientKeySet = false;

  constructor(password: string, options: SrpServerOptions = {}) {
    this.group = options.group ?? HAP_SRP_GROUP;
    this.salt = options.salt ?? randomKeyBytes(HAP_SRP_SALT_LENGTH);
    this.srp = new SrpServer(
      this.group,
      this.salt,
      Buffer.from(options.username ?? HAP_SRP_USERNAME, 'utf8'),
      Buffer.from(password, 'utf8'),
      options.privateKey ?? randomExponent(),
    );
  }

  /** Our public value B = k·v + g^b mod N (padded to the group size). */
  get publicKey(): Buffer {
    return this.srp.computeB();
  }

  /** Takes the controller's public value A; a value outside 1..N-1 is a `ProtocolError`. */
  setClientPublicKey(clientPublicKey: Buffer): void {
    if (clientPublicKey.length === 0 || clientPublicKey.length > groupBytes(this.group)) {
      throw new ProtocolError(`the controller's SRP public key has ${clientPublicKey.length} bytes, expected ${groupBytes(this.group)}`);
    }
    try {
      this.srp.setA(clientPublicKey);
    } catch (err) {
      throw new ProtocolError("the controller's SRP public key is invalid", { cause: err });
    }
    this.clientKeySet = true;
  }

  private requireClientKey(): void {
    if (!this.clientKeySet) throw new InvalidArgumentError('SRP: the client public key must be set first');
  }

  /** True when the controller's proof M1 shows it used the same password. */
  verifyClientProof(clientProof: Buffer): boolean {
    this.requireClientKey();
    try {
      this.srp.checkM1(clientProof);
      return true;
    } catch {
      return false;
    }
  }

  /** Our proof M2; only send it after `verifyClientProof` succeeded. */
  get proof(): Buffer {
    this.requireClientKey();
    return this.srp.computeM2();
  }

  get sessionKey(): Buffer {
    this.requireClientKey();
    return this.srp.computeK();
  }

  /** The premaster secret S, exposed for the RFC 5054 test vector. */
  get premasterSecret(): Buffer {
    this.requireClientKey();
    return this.srp._S!;
  }
}
