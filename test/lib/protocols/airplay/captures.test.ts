/**
 * The AirPlay side of pyatv 0.16.1's recorded sessions (fixtures pyatv-0.16.1/airplay-*):
 *  - our client sends what pyatv sends: given pyatv's secrets (its Ed25519 seed is also its
 *    SRP secret, and Ed25519 and ChaCha20-Poly1305 are deterministic) our pair-setup is pyatv's
 *    byte for byte; where pyatv's secret was not recorded (pair-verify and transient keys), the
 *    request lines, headers and body lengths are;
 *  - our simulator accepts what pyatv sends: given the fake device's secrets (32 × 0xAA is its
 *    Ed25519 seed, SRP secret and X25519 key) it answers pyatv's recorded pair-verify and
 *    transient pairing with the fake's very bytes, then decrypts pyatv's encrypted SETUP and
 *    answers it, sealed with the keys pyatv logged;
 *  - the tunnel's channel keys derived from the recorded secrets are the ones pyatv derives.
 * Everything runs over real loopback sockets.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { decodeBplist, encodeBplist } from '../../../../lib/codecs/bplist';
import { HttpMessageDecoder } from '../../../../lib/codecs/http';
import { encodeOpack } from '../../../../lib/codecs/opack';
import { decodeTlv8, Tlv8Type } from '../../../../lib/codecs/tlv8';
import { formatHapCredentials, parseFullHapCredentials } from '../../../../lib/hap/credentials';
import { ed25519PublicKey } from '../../../../lib/hap/keys';
import { HapPairSetup } from '../../../../lib/hap/pairing';
import { deriveChannelKeys } from '../../../../lib/hap/pair-verify';
import { airplayHapExchange, airplayPinStart, transientControlChannel, verifyControlChannel } from '../../../../lib/protocols/airplay/auth';
import { AirPlayConnection, BPLIST_CONTENT_TYPE, RtspSession } from '../../../../lib/protocols/airplay/connection';
import { eventChannelSetupBody } from '../../../../lib/protocols/airplay/tunnel';
import { AirPlaySimulatorServer } from '../../../../lib/simulator/airplay';
import { formatPairingRecord } from '../../../../lib/simulator/hap-accessory';
import { APPLE_TV_TVOS18, HOMEPOD_MINI } from '../../../../lib/simulator/profiles';
import { CredentialStore } from '../../../../lib/simulator/server';
import { SimulatorState } from '../../../../lib/simulator/state';
import { fixture } from '../../../support/paths';
import { FAKE_DEVICE_ID, FAKE_DEVICE_SEED, readCapture, readKeys, splitHttp, stream } from '../../hap/captures';
import { RawClient, replayServer } from './replay';

interface TunnelCaptureKeys {
  control_client_write_key_c2s: string;
  control_client_read_key_s2c: string;
  shared_secret: string;
  credentials?: string;
  would_be_channel_keys_offline: {
    events_client_output_key: string;
    events_client_input_key: string;
    datastream_example_seed: string;
    datastream_client_output_key: string;
    datastream_client_input_key: string;
  };
}

const tunnelKeys = (
  JSON.parse(readFileSync(fixture('pyatv-0.16.1', 'airplay-tunnel-keys.json'), 'utf8')) as { captures: Record<string, TunnelCaptureKeys> }
).captures;
const HAP = tunnelKeys['airplay-tunnel-client.jsonl']!;
const TRANSIENT = tunnelKeys['airplay-tunnel-client-transient.jsonl']!;
const hex = (h: string) => Buffer.from(h, 'hex');

/** The requests and responses of a capture's connection, as raw bytes each. */
function exchanges(name: string): { requests: Buffer[]; responses: Buffer[] } {
  const chunks = readCapture(name);
  return {
    requests: chunks.filter((c) => c.dir === 'c2s').map((c) => c.bytes),
    responses: chunks.filter((c) => c.dir === 's2c').map((c) => c.bytes),
  };
}

/** The head (request line and headers) of a raw request. */
const head = (bytes: Buffer): string => bytes.toString('latin1', 0, bytes.indexOf('\r\n\r\n'));

const tlvTypes = (body: Buffer): number[] => [...decodeTlv8(body).keys()];
const tlvItems = (body: Buffer): Array<[number, string]> =>
  body.length === 0 ? [] : [...decodeTlv8(body).entries()].map(([t, v]): [number, string] => [t, Buffer.from(v).toString('hex')]).sort((a, b) => a[0] - b[0]);

describe("pyatv 0.16.1's AirPlay captures", () => {
  describe('our client sends what pyatv sends', () => {
    const pairings = [
      { capture: 'airplay-pair.jsonl', credentials: readKeys().credentials_from_pairing.airplay },
      { capture: 'airplay-tunnel-pair.jsonl', credentials: HAP.credentials! },
    ];
    for (const { capture, credentials } of pairings) {
      it(`${capture}: given pyatv's secrets, /pair-pin-start and pair-setup M1, M3, M5 byte for byte, and the same credentials`, async () => {
        const { requests, responses } = exchanges(capture);
        const server = await replayServer(responses);
        const connection = await AirPlayConnection.connect({ host: '127.0.0.1', port: server.port, timeout: 5000 });
        try {
          const secret = parseFullHapCredentials(credentials);
          await airplayPinStart(connection, 3);
          const setup = new HapPairSetup(airplayHapExchange(connection, 3), {
            pairingId: secret.clientId,
            seed: secret.ltsk,
            srpPrivateKey: secret.ltsk,
            name: encodeOpack({ name: 'pyatv' }),
          });
          await setup.start();
          const paired = await setup.finish('2271');
          assert.equal(formatHapCredentials(paired), credentials);
          assert.deepEqual(server.received(), Buffer.concat(requests));
        } finally {
          connection.close();
          await server.close();
        }
      });
    }

    it('airplay-tunnel-client: pair-verify M1 with the same request line, headers and body layout', async () => {
      const { requests, responses } = exchanges('airplay-tunnel-client.jsonl');
      const server = await replayServer(responses);
      const connection = await AirPlayConnection.connect({ host: '127.0.0.1', port: server.port, timeout: 5000 });
      try {
        // pyatv's ephemeral key was not recorded: the recorded M2 cannot be read by us, and
        // the verify stops there; M1 is what is compared.
        await assert.rejects(verifyControlChannel(connection, parseFullHapCredentials(HAP.credentials!)));
        const ours = server.received();
        assert.equal(head(ours), head(requests[0]!));
        const body = server.requests[0]!.body;
        const theirs = splitHttp(requests[0]!)[0]!.body;
        assert.equal(body.length, theirs.length);
        assert.deepEqual(tlvTypes(body), tlvTypes(theirs));
      } finally {
        connection.close();
        await server.close();
      }
    });

    it('airplay-tunnel-client-transient: /pair-pin-start, transient M1 and M3 with the same heads and layouts', async () => {
      const { requests, responses } = exchanges('airplay-tunnel-client-transient.jsonl');
      const server = await replayServer(responses);
      const connection = await AirPlayConnection.connect({ host: '127.0.0.1', port: server.port, timeout: 5000 });
      try {
        // Our SRP secret differs from pyatv's (not recorded), so the recorded M4 proof fails our check.
        await assert.rejects(transientControlChannel(connection));
        assert.equal(server.requests.length, 3);
        const plain = requests.slice(0, 3);
        server.requests.forEach((request, i) => {
          const theirs = splitHttp(plain[i]!)[0]!;
          assert.equal(`${request.method} ${request.target} ${request.protocol}`, theirs.startLine);
          assert.deepEqual(request.headers.entries().map(([n]) => n), head(plain[i]!).split('\r\n').slice(1).map((l) => l.slice(0, l.indexOf(':'))));
          for (const [name, value] of request.headers) assert.equal(value, theirs.headers[name.toLowerCase()], name);
          assert.equal(request.body.length, theirs.body.length);
          if (request.body.length > 0) assert.deepEqual(tlvTypes(request.body), tlvTypes(theirs.body));
        });
        // M1 carries no random part: the same bytes.
        assert.deepEqual(server.requests[1]!.body, splitHttp(plain[1]!)[0]!.body);
      } finally {
        connection.close();
        await server.close();
      }
    });

    it('the event-channel SETUP: request line, headers in order and body as pyatv sends them (our name and sender ids aside)', async () => {
      const recorded = JSON.parse(readFileSync(fixture('pyatv-0.16.1', 'airplay-tunnel-client.decrypted.json'), 'utf8')) as {
        decrypted_requests: Array<{ request_line: string; headers: Array<[string, string]>; body_hex: string }>;
      };
      const setup = recorded.decrypted_requests[0]!;
      const header = (name: string) => setup.headers.find(([n]) => n === name)![1];
      const theirs = decodeBplist(hex(setup.body_hex)) as Record<string, unknown>;
      const server = await replayServer([Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 0\r\nContent-Length: 0\r\n\r\n', 'latin1')]);
      const connection = await AirPlayConnection.connect({ host: '127.0.0.1', port: server.port, timeout: 5000 });
      try {
        const sessionId = Number(setup.request_line.split('/')[3]!.split(' ')[0]);
        const rtsp = new RtspSession(connection, { dacpId: header('DACP-ID'), activeRemote: Number(header('Active-Remote')), sessionId });
        await rtsp.exchange('SETUP', {
          body: encodeBplist(eventChannelSetupBody('pyatv', theirs['sessionUUID'] as string)),
          contentType: BPLIST_CONTENT_TYPE,
        });
        const request = server.requests[0]!;
        assert.equal(`${request.method} ${request.target} ${request.protocol}`, setup.request_line);
        assert.deepEqual(request.headers.entries(), setup.headers);
        const ours = decodeBplist(request.body) as Record<string, unknown>;
        assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
        for (const key of Object.keys(theirs)) {
          if (key === 'deviceID' || key === 'macAddress') continue;
          assert.deepEqual(ours[key], theirs[key], key);
        }
      } finally {
        connection.close();
        await server.close();
      }
    });
  });

  describe('our simulator accepts what pyatv sends', () => {
    /** Our receiver with the fake device's secrets, and the recorded pairing of pyatv stored. */
    async function fakeReceiver(options: { homepod: boolean; srpSalt?: Buffer }): Promise<AirPlaySimulatorServer> {
      const credentials = new CredentialStore();
      const paired = parseFullHapCredentials(HAP.credentials!);
      credentials.add('airplay', formatPairingRecord(paired.clientId, ed25519PublicKey(paired.ltsk)));
      const server = new AirPlaySimulatorServer({
        state: new SimulatorState(),
        name: 'Replay TV',
        deviceId: '0011223344556677',
        host: '127.0.0.1',
        port: 0,
        credentials,
        logger: { debug() {}, warn() {} },
        profile: options.homepod ? HOMEPOD_MINI : APPLE_TV_TVOS18,
        pin: '2271',
        seed: FAKE_DEVICE_SEED,
        pairingId: FAKE_DEVICE_ID,
        verifyEphemeralKey: FAKE_DEVICE_SEED,
        srpPrivateKey: FAKE_DEVICE_SEED,
        ...(options.srpSalt && { srpSalt: options.srpSalt }),
      });
      await server.start();
      return server;
    }

    /** The recorded response bodies (the fake device's TLVs). */
    const recordedBodies = (name: string): Buffer[] => splitHttp(stream(readCapture(name), 's2c')).map((m) => m.body);

    it("airplay-tunnel-client: answers pyatv's pair-verify with the fake's bytes, then decrypts its SETUP and answers it", async () => {
      const { requests } = exchanges('airplay-tunnel-client.jsonl');
      const fakeBodies = recordedBodies('airplay-tunnel-client.jsonl');
      const server = await fakeReceiver({ homepod: false });
      const client = await RawClient.connect(server.port);
      try {
        for (const [i, request] of requests.slice(0, 2).entries()) {
          client.write(request);
          const response = await client.response();
          assert.equal(response.status, 200);
          assert.deepEqual(response.body, fakeBodies[i], `pair-verify M${2 * i + 2}`);
        }
        client.decryptWith(hex(HAP.control_client_read_key_s2c));
        client.write(requests[2]!);
        const reply = await client.response();
        assert.equal(reply.status, 200);
        assert.equal(reply.protocol, 'RTSP/1.0');
        assert.equal(reply.headers.get('CSeq'), '0');
        assert.equal(reply.headers.get('Content-Type'), BPLIST_CONTENT_TYPE);
        const body = decodeBplist(reply.body) as Record<string, unknown>;
        assert.ok(Number.isInteger(body['eventPort']) && (body['eventPort'] as number) > 0, JSON.stringify(body));
        assert.equal(server.stats().verifications, 1);
      } finally {
        client.close();
        await server.stop();
      }
    });

    it('airplay-tunnel-client-transient: a HomePod answers the transient pairing with the fake\'s bytes and takes the SETUP', async () => {
      const { requests } = exchanges('airplay-tunnel-client-transient.jsonl');
      const fakeBodies = recordedBodies('airplay-tunnel-client-transient.jsonl');
      const salt = decodeTlv8(fakeBodies[1]!).get(Tlv8Type.Salt)!;
      const server = await fakeReceiver({ homepod: true, srpSalt: salt });
      const client = await RawClient.connect(server.port);
      try {
        for (const [i, request] of requests.slice(0, 3).entries()) {
          client.write(request);
          const response = await client.response();
          assert.equal(response.status, 200);
          // The same items (the fake writes M4's Proof before its State; the order carries nothing).
          assert.deepEqual(tlvItems(response.body), tlvItems(fakeBodies[i]!), `answer ${i + 1}`);
        }
        client.decryptWith(hex(TRANSIENT.control_client_read_key_s2c));
        client.write(requests[3]!);
        const reply = await client.response();
        assert.equal(reply.status, 200);
        assert.ok((decodeBplist(reply.body) as Record<string, unknown>)['eventPort']);
        assert.equal(server.stats().transientPairings, 1);
      } finally {
        client.close();
        await server.stop();
      }
    });

    it("an Apple TV refuses the remote-control SETUP of a transiently paired sender (470)", async () => {
      const { requests } = exchanges('airplay-tunnel-client-transient.jsonl');
      const salt = decodeTlv8(recordedBodies('airplay-tunnel-client-transient.jsonl')[1]!).get(Tlv8Type.Salt)!;
      const server = await fakeReceiver({ homepod: false, srpSalt: salt });
      const client = await RawClient.connect(server.port);
      try {
        for (const request of requests.slice(0, 3)) {
          client.write(request);
          assert.equal((await client.response()).status, 200);
        }
        client.decryptWith(hex(TRANSIENT.control_client_read_key_s2c));
        client.write(requests[3]!);
        assert.equal((await client.response()).status, 470);
      } finally {
        client.close();
        await server.stop();
      }
    });
  });

  it('the channel keys derived from the recorded secrets are those pyatv derives (control, events, data stream)', () => {
    for (const keys of [HAP, TRANSIENT]) {
      const secret = hex(keys.shared_secret);
      const control = deriveChannelKeys(secret, 'airplayControl');
      assert.equal(control.encryptKey.toString('hex'), keys.control_client_write_key_c2s);
      assert.equal(control.decryptKey.toString('hex'), keys.control_client_read_key_s2c);
      const offline = keys.would_be_channel_keys_offline;
      const events = deriveChannelKeys(secret, 'airplayEvents');
      assert.equal(events.encryptKey.toString('hex'), offline.events_client_output_key);
      assert.equal(events.decryptKey.toString('hex'), offline.events_client_input_key);
      const data = deriveChannelKeys(secret, 'airplayDataStream', { seed: BigInt(offline.datastream_example_seed) });
      assert.equal(data.encryptKey.toString('hex'), offline.datastream_client_output_key);
      assert.equal(data.decryptKey.toString('hex'), offline.datastream_client_input_key);
      // The device's side of each channel is the mirror image.
      const device = deriveChannelKeys(secret, 'airplayEvents', { role: 'accessory' });
      assert.deepEqual([device.encryptKey, device.decryptKey], [events.decryptKey, events.encryptKey]);
    }
  });

  it('every recorded request and response decodes with our HTTP codec', () => {
    for (const name of ['airplay-pair.jsonl', 'airplay-tunnel-pair.jsonl']) {
      const chunks = readCapture(name);
      assert.equal(HttpMessageDecoder.forRequests().push(stream(chunks, 'c2s')).length, 4);
      assert.equal(HttpMessageDecoder.forResponses().push(stream(chunks, 's2c')).length, 4);
    }
  });
});
