import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SRP } from 'fast-srp-hap';
import { ProtocolError } from '../../../lib/errors';
import { HAP_SRP_GROUP, HAP_SRP_USERNAME, HapSrpClient, HapSrpServer } from '../../../lib/hap/srp';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const norm = (b: Buffer): string => b.toString('hex').replace(/^(00)+/, '');
const normHex = (s: string): string => s.replace(/\s/g, '').toLowerCase().replace(/^(00)+/, '');

// RFC 5054 Appendix B: 1024-bit group, SHA-1, I = "alice", P = "password123".
const RFC5054 = {
  s: 'BEB25379 D1A8581E B5A72767 3A2441EE',
  v: `7E273DE8 696FFC4F 4E337D05 B4B375BE B0DDE156 9E8FA00A 9886D812 9BADA1F1 822223CA 1A605B53 0E379BA4 729FDC59
      F105B478 7E5186F5 C671085A 1447B52A 48CF1970 B4FB6F84 00BBF4CE BFBB1681 52E08AB5 EA53D15C 1AFF87B2 B9DA6E04
      E058AD51 CC72BFC9 033B564E 26480D78 E955A5E2 9E7AB245 DB2BE315 E2099AFB`,
  a: '60975527 035CF2AD 1989806F 0407210B C81EDC04 E2762A56 AFD529DD DA2D4393',
  b: 'E487CB59 D31AC550 471E81F0 0F6928E0 1DDA08E9 74A004F4 9E61F5D1 05284D20',
  A: `61D5E490 F6F1B795 47B0704C 436F523D D0E560F0 C64115BB 72557EC4 4352E890 3211C046 92272D8B 2D1A5358 A2CF1B6E
      0BFCF99F 921530EC 8E393561 79EAE45E 42BA92AE ACED8251 71E1E8B9 AF6D9C03 E1327F44 BE087EF0 6530E69F 66615261
      EEF54073 CA11CF58 58F0EDFD FE15EFEA B349EF5D 76988A36 72FAC47B 0769447B`,
  B: `BD0C6151 2C692C0C B6D041FA 01BB152D 4916A1E7 7AF46AE1 05393011 BAF38964 DC46A067 0DD125B9 5A981652 236F99D9
      B681CBF8 7837EC99 6C6DA044 53728610 D0C6DDB5 8B318885 D7D82C7F 8DEB75CE 7BD4FBAA 37089E6F 9C6059F3 88838E7A
      00030B33 1EB76840 910440B1 B27AAEAE EB4012B7 D7665238 A8E3FB00 4B117B58`,
  S: `B0DC82BA BCF30674 AE450C02 87745E79 90A3381F 63B387AA F271A10D 233861E3 59B48220 F7C4693C 9AE12B0A 6F67809F
      0876E2D0 13800D6C 41BB59B6 D5979B5C 00A172B4 A2A5903A 0BDCAF8A 709585EB 2AFAFA8F 3499B200 210DCC1F 10EB3394
      3CD67FC8 8A2F39A4 BE5BEC4E C0A3212D C346D7E4 74B29EDE 8A469FFE CA686E5A`,
};

// RFC 5054 Appendix A, 3072-bit group (the MODP prime of RFC 3526 §4), generator 5.
const RFC5054_N3072 = `
  FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1 29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
  EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245 E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
  EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D C2007CB8 A163BF05 98DA4836 1C55D39A 69163FA8 FD24CF5F
  83655D23 DCA3AD96 1C62F356 208552BB 9ED52907 7096966D 670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B
  E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9 DE2BCBF6 95581718 3995497C EA956AE5 15D22618 98FA0510
  15728E5A 8AAAC42D AD33170D 04507A33 A85521AB DF1CBA64 ECFB8504 58DBEF0A 8AEA7157 5D060C7D B3970F85 A6E1E4C7
  ABF5AE8C DB0933D7 1E8C94E0 4A25619D CEE3D226 1AD2EE6B F12FFA06 D98A0864 D8760273 3EC86A64 521F2B18 177B200C
  BBE11757 7A615D6C 770988C0 BAD946E2 08E24FA0 74E5AB31 43DB5BFC E0FD108E 4B82D120 A93AD2CA FFFFFFFF FFFFFFFF`;

describe('HAP SRP-6a', () => {
  it('reproduces the RFC 5054 Appendix B vector through the same code path (1024-bit, SHA-1 group)', () => {
    const group = SRP.params[1024];
    const salt = hex(RFC5054.s);
    const options = { group, username: 'alice' };
    const client = new HapSrpClient(salt, 'password123', { ...options, privateKey: hex(RFC5054.a) });
    const server = new HapSrpServer('password123', { ...options, salt, privateKey: hex(RFC5054.b) });
    assert.equal(norm(SRP.computeVerifier(group, salt, Buffer.from('alice'), Buffer.from('password123'))), normHex(RFC5054.v));
    assert.equal(norm(client.publicKey), normHex(RFC5054.A));
    assert.equal(norm(server.publicKey), normHex(RFC5054.B));
    client.setServerPublicKey(server.publicKey);
    server.setClientPublicKey(client.publicKey);
    assert.equal(norm(client.premasterSecret), normHex(RFC5054.S));
    assert.equal(norm(server.premasterSecret), normHex(RFC5054.S));
    assert.equal(server.verifyClientProof(client.proof), true);
    assert.equal(client.verifyServerProof(server.proof), true);
    assert.ok(client.sessionKey.equals(server.sessionKey));
  });

  it('uses the RFC 5054 3072-bit group with g = 5 and SHA-512 for HAP', () => {
    assert.equal(HAP_SRP_GROUP.N_length_bits, 3072);
    assert.equal(HAP_SRP_GROUP.hash, 'sha512');
    assert.equal(parseInt(HAP_SRP_GROUP.g.toString(16), 16), 5);
    assert.equal(HAP_SRP_GROUP.N.toString(16), normHex(RFC5054_N3072));
    assert.equal(HAP_SRP_USERNAME, 'Pair-Setup');
  });

  it('agrees between client and server on the HAP group with the right PIN, and not with a wrong one', () => {
    const server = new HapSrpServer('1111');
    assert.equal(server.salt.length, 16);
    assert.equal(server.publicKey.length, 384);
    const client = new HapSrpClient(server.salt, '1111');
    client.setServerPublicKey(server.publicKey);
    server.setClientPublicKey(client.publicKey);
    assert.equal(client.proof.length, 64);
    assert.equal(server.verifyClientProof(client.proof), true);
    assert.equal(client.verifyServerProof(server.proof), true);
    assert.equal(client.sessionKey.length, 64);
    assert.ok(client.sessionKey.equals(server.sessionKey));

    const wrong = new HapSrpClient(server.salt, '1112');
    wrong.setServerPublicKey(server.publicKey);
    const server2 = new HapSrpServer('1111', { salt: server.salt });
    server2.setClientPublicKey(wrong.publicKey);
    assert.equal(server2.verifyClientProof(wrong.proof), false);
    assert.equal(wrong.verifyServerProof(server.proof), false);
  });

  it('turns an invalid public key from the network into a ProtocolError', () => {
    const client = new HapSrpClient(Buffer.alloc(16, 1), '1111');
    assert.throws(() => client.setServerPublicKey(Buffer.alloc(384)), ProtocolError);
    assert.throws(() => client.setServerPublicKey(Buffer.alloc(385, 1)), ProtocolError);
    assert.throws(() => client.setServerPublicKey(Buffer.alloc(0)), ProtocolError);
    const server = new HapSrpServer('1111');
    assert.throws(() => server.setClientPublicKey(HAP_SRP_GROUP.N.toBuffer(384)), ProtocolError);
  });
});
