/**
 * What an AirPlay TXT record decides: AirPlay 1 or 2, transient pairing, video, whether and
 * how MRP travels through the tunnel (pyatv's rules in protocols/airplay/utils.py), and the
 * TXT record a `GET /info` reply stands for, hostile `txtAirPlay` bytes included.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthenticationError } from '../../../../lib/errors';
import { parseFullHapCredentials } from '../../../../lib/hap/credentials';
import { airplayInfoTxt, txtStrings } from '../../../../lib/protocols/airplay/info';
import {
  airplayMajorVersion,
  airplayOffersTransientPairing,
  airplayPlaysVideo,
  airplayRemoteControlKind,
  hasAirplayFeature,
} from '../../../../lib/protocols/airplay/service';
import { decideTunnel } from '../../../../lib/protocols/airplay/session';

const HAP = parseFullHapCredentials(`${'aa'.repeat(32)}:${'bb'.repeat(32)}:${'31'.repeat(36)}:${'32'.repeat(36)}`);

describe('AirPlay TXT rules', () => {
  it('reads the feature bits: AirPlay 2, transient pairing, video', () => {
    const tvos = { features: '0x4A7FDFD5,0xBC155FDE' };
    const homepod = { features: '0x4A7FCA00,0x3C356BD0' };
    const atv3 = { features: '0x5A7FFFF7,0xE' };
    assert.equal(airplayMajorVersion(tvos), 2);
    assert.equal(airplayMajorVersion(homepod), 2);
    assert.equal(airplayMajorVersion(atv3), 1);
    assert.equal(airplayMajorVersion({}), 1);
    assert.equal(airplayOffersTransientPairing(homepod), true);
    assert.equal(airplayOffersTransientPairing(atv3), false);
    assert.equal(airplayPlaysVideo(tvos), true);
    assert.equal(airplayPlaysVideo(homepod), false);
    assert.equal(hasAirplayFeature({ ft: '0x1' }, 'videoV1'), true);
    assert.equal(hasAirplayFeature({ features: 'junk' }, 'videoV1'), false);
  });

  it('tells Apple TVs on tvOS 13+ and HomePods from the rest (pyatv: is_remote_control_supported)', () => {
    assert.equal(airplayRemoteControlKind({ model: 'AppleTV14,1', osvers: '18.1' }), 'apple-tv');
    assert.equal(airplayRemoteControlKind({ model: 'AppleTV6,2', osvers: '13.0' }), 'apple-tv');
    assert.equal(airplayRemoteControlKind({ model: 'AppleTV6,2', osvers: '12.4' }), null);
    assert.equal(airplayRemoteControlKind({ model: 'AppleTV3,2' }), null);
    assert.equal(airplayRemoteControlKind({ model: 'AudioAccessory5,1' }), 'homepod');
    assert.equal(airplayRemoteControlKind({ model: 'MacBookPro18,1', osvers: '14.0' }), null);
  });

  it('decides the tunnel: HAP for an Apple TV, transient for a HomePod, direct MRP first, a reason to pair otherwise', () => {
    const atv = { model: 'AppleTV14,1', osvers: '18.1' };
    assert.deepEqual(decideTunnel(atv, HAP, false, 'TV'), { tunnel: true, credentials: HAP, kind: 'apple-tv' });
    assert.equal(decideTunnel(atv, HAP, true, 'TV').tunnel, false);
    assert.deepEqual(decideTunnel({ model: 'AudioAccessory1,1' }, null, false, 'HP'), { tunnel: true, credentials: { kind: 'transient' }, kind: 'homepod' });
    assert.equal(decideTunnel({ model: 'AppleTV3,2' }, null, false, 'old').tunnel, false);
    for (const credentials of [null, { kind: 'transient' } as const, { kind: 'legacy', clientId: Buffer.alloc(8), seed: Buffer.alloc(32) } as const]) {
      assert.throws(() => decideTunnel(atv, credentials, false, 'TV'), (err: unknown) => err instanceof AuthenticationError && /pair AirPlay/.test(err.message));
    }
  });
});

describe('GET /info as a TXT record', () => {
  it('takes txtAirPlay and completes it from the plist; a build gives the OS major', () => {
    const wire = Buffer.concat(['model=AppleTV11,1', 'deviceid=AA:BB'].map((s) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s)])));
    assert.deepEqual(airplayInfoTxt({ txtAirPlay: wire, features: 0x4a7fdfd5n | (0x1n << 32n), osBuildVersion: '22J580', sourceVersion: '820.6' }), {
      model: 'AppleTV11,1',
      deviceid: 'AA:BB',
      features: '0x4A7FDFD5,0x1',
      srcvers: '820.6',
      osvers: '18.1',
    });
    assert.deepEqual(airplayInfoTxt({ model: 'AudioAccessory5,1', features: 0x10 }), { model: 'AudioAccessory5,1', features: '0x10' });
    assert.deepEqual(airplayInfoTxt({ model: 42, features: -1, txtAirPlay: 'not bytes' }), {});
  });

  it('walks hostile txtAirPlay bytes without reading past them', () => {
    assert.deepEqual(txtStrings(Buffer.from([3, 0x61, 0x3d, 0x62, 9, 0x63])).map(String), ['a=b']);
    assert.deepEqual(txtStrings(Buffer.alloc(0)), []);
    assert.equal(txtStrings(Buffer.alloc(4096, 0)).length, 256, 'capped');
  });
});
