import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { InvalidArgumentError, ProtocolError } from '../../../lib/errors';
import {
  chacha20Poly1305Open,
  chacha20Poly1305Seal,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  hapLabelNonce,
  hkdfDerive,
  x25519KeyPair,
  x25519SharedSecret,
} from '../../../lib/hap/keys';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');
const range = (from: number, to: number): Buffer => Buffer.from(Array.from({ length: to - from + 1 }, (_, i) => from + i));

describe('HAP crypto helpers', () => {
  describe('ChaCha20-Poly1305 (RFC 8439 §2.8.2)', () => {
    const key = range(0x80, 0x9f);
    const nonce = hex('07000000 4041424344454647');
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const plaintext = Buffer.from(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
      'ascii',
    );
    const ciphertext = hex(`
      d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
      3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
      92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
      3ff4def08e4b7a9de576d26586cec64b6116`);
    const tag = hex('1ae10b594f09e26a7e902ecbd0600691');

    it('seals to the RFC ciphertext and tag', () => {
      assert.equal(chacha20Poly1305Seal(key, nonce, plaintext, aad).toString('hex'), Buffer.concat([ciphertext, tag]).toString('hex'));
    });

    it('opens it again', () => {
      assert.equal(chacha20Poly1305Open(key, nonce, Buffer.concat([ciphertext, tag]), aad).toString('ascii'), plaintext.toString('ascii'));
    });

    it('refuses a flipped bit, a wrong AAD or a short input with a ProtocolError', () => {
      const sealed = Buffer.concat([ciphertext, tag]);
      const flipped = Buffer.from(sealed);
      flipped[10]! ^= 1;
      const failed = (err: unknown) => err instanceof ProtocolError && /decryption failed — wrong keys or corrupted data/.test(err.message);
      assert.throws(() => chacha20Poly1305Open(key, nonce, flipped, aad), failed);
      assert.throws(() => chacha20Poly1305Open(key, nonce, sealed), failed);
      assert.throws(() => chacha20Poly1305Open(key, nonce, sealed.subarray(0, 15), aad), failed);
      assert.throws(() => chacha20Poly1305Seal(key.subarray(1), nonce, plaintext), InvalidArgumentError);
    });
  });

  describe('HKDF (RFC 5869)', () => {
    it('test case 1 (SHA-256)', () => {
      const okm = hkdfDerive(Buffer.alloc(22, 0x0b), range(0x00, 0x0c), range(0xf0, 0xf9), 42, 'sha256');
      assert.equal(okm.toString('hex'), '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
    });

    it('test case 2 (SHA-256, long inputs)', () => {
      const okm = hkdfDerive(range(0x00, 0x4f), range(0x60, 0xaf), range(0xb0, 0xff), 82, 'sha256');
      assert.equal(
        okm.toString('hex'),
        'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
      );
    });

    it('test case 3 (SHA-256, empty salt and info, as Companion uses an empty salt)', () => {
      const okm = hkdfDerive(Buffer.alloc(22, 0x0b), '', '', 42, 'sha256');
      assert.equal(okm.toString('hex'), '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
    });

    it('SHA-512 with string salt/info matches extract-and-expand done by hand with HMAC', () => {
      const ikm = range(0x01, 0x40);
      const prk = createHmac('sha512', 'Pair-Verify-Encrypt-Salt').update(ikm).digest();
      const t1 = createHmac('sha512', prk).update(Buffer.concat([Buffer.from('Pair-Verify-Encrypt-Info'), Buffer.from([1])])).digest();
      assert.equal(hkdfDerive(ikm, 'Pair-Verify-Encrypt-Salt', 'Pair-Verify-Encrypt-Info').toString('hex'), t1.subarray(0, 32).toString('hex'));
    });
  });

  describe('Ed25519 (RFC 8032 §7.1) from raw seeds', () => {
    const vectors = [
      {
        seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
        pub: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
        msg: '',
        sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
      },
      {
        seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
        pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
        msg: '72',
        sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
      },
      {
        seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
        pub: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
        msg: 'af82',
        sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
      },
    ];
    vectors.forEach((v, i) => {
      it(`test ${i + 1}: public key, signature, verification`, () => {
        assert.equal(ed25519PublicKey(hex(v.seed)).toString('hex'), v.pub);
        assert.equal(ed25519Sign(hex(v.seed), hex(v.msg)).toString('hex'), v.sig);
        assert.equal(ed25519Verify(hex(v.pub), hex(v.msg), hex(v.sig)), true);
        const bad = hex(v.sig);
        bad[0]! ^= 0x80;
        assert.equal(ed25519Verify(hex(v.pub), hex(v.msg), bad), false);
        assert.equal(ed25519Verify(hex(v.pub), Buffer.concat([hex(v.msg), Buffer.from([0])]), hex(v.sig)), false);
      });
    });

    it('treats malformed network keys and signatures as invalid, never throws', () => {
      assert.equal(ed25519Verify(Buffer.alloc(31), Buffer.alloc(0), Buffer.alloc(64)), false);
      assert.equal(ed25519Verify(Buffer.alloc(32, 0xff), Buffer.alloc(0), Buffer.alloc(64)), false);
      assert.equal(ed25519Verify(hex(vectors[0]!.pub), Buffer.alloc(0), Buffer.alloc(10)), false);
    });

    it("gives the pyatv fake device's public key for seed 32 × 0xAA (fixtures README)", () => {
      const pub = ed25519PublicKey(Buffer.alloc(32, 0xaa)).toString('hex');
      assert.ok(pub.startsWith('e734ea6c') && pub.endsWith('6b58'), pub);
    });
  });

  describe('X25519', () => {
    it('matches RFC 7748 §6.1 (Alice and Bob)', () => {
      const alice = x25519KeyPair(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
      const bob = x25519KeyPair(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
      assert.equal(alice.publicKey.toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
      assert.equal(bob.publicKey.toString('hex'), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
      const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
      assert.equal(x25519SharedSecret(alice.privateKey, bob.publicKey).toString('hex'), shared);
      assert.equal(x25519SharedSecret(bob.privateKey, alice.publicKey).toString('hex'), shared);
    });

    it('refuses a wrong-length or low-order peer key with a ProtocolError', () => {
      const me = x25519KeyPair();
      assert.throws(() => x25519SharedSecret(me.privateKey, Buffer.alloc(31)), ProtocolError);
      assert.throws(() => x25519SharedSecret(me.privateKey, Buffer.alloc(32)), ProtocolError);
    });
  });

  it('builds the pairing nonces as 4 zero bytes + an 8-character label', () => {
    assert.equal(hapLabelNonce('PS-Msg05').toString('hex'), '00000000' + Buffer.from('PS-Msg05').toString('hex'));
    assert.throws(() => hapLabelNonce('PS-Msg5'), InvalidArgumentError);
  });
});
