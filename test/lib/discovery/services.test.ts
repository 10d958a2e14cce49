import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lookupModel, lookupOsVersion } from '../../../lib/device/models';
import { devicesFromRecords, pairingRequirement, SERVICE_TYPES, uniqueIdOf } from '../../../lib/discovery/services';
import { decodeTxt, txtValue } from '../../../lib/mdns/txt';
import { airplayFeatures, requiresPassword } from '../../../lib/protocols/airplay/service';
import type { ServiceRecord } from '../../../lib/mdns/types';

function record(type: string, instance: string, txt: Record<string, string>, extra: Partial<ServiceRecord> = {}): ServiceRecord {
  return {
    type,
    instance,
    host: 'living-room.local',
    port: 1000,
    addresses: ['10.0.0.5'],
    txt,
    ttl: 120,
    source: '10.0.0.5',
    ...extra,
  };
}

describe('TXT records', () => {
  it('matches keys case-insensitively', () => {
    const txt = { DeviceID: 'AA:BB', rpmrtid: 'X' };
    assert.equal(txtValue(txt, 'deviceid'), 'AA:BB');
    assert.equal(txtValue(txt, 'rpMRtID'), 'X');
    assert.equal(txtValue(txt, 'missing'), undefined);
    assert.equal(uniqueIdOf({ type: '_airplay._tcp', instance: 'x', txt: { DEVICEID: 'AA:BB:CC' } }), 'AA:BB:CC');
  });

  it('turns both non-breaking-space byte pairs into spaces and keeps the first of duplicate keys', () => {
    const txt = decodeTxt([
      Buffer.from('Name=Living\xc2\xa0Room', 'latin1'),
      Buffer.from('Other=a\x00\xa0b', 'latin1'),
      Buffer.from('name=second'),
      Buffer.from('flag'),
      Buffer.alloc(0),
      Buffer.from('=novalue'),
      Buffer.from('utf=caf\xc3\xa9', 'latin1'),
    ]);
    assert.deepEqual(txt, { Name: 'Living Room', Other: 'a b', flag: '', utf: 'café' });
  });

  it('parses AirPlay feature strings into 64 bits', () => {
    assert.equal(airplayFeatures({ features: '0x5A7FFFF7,0x1E' }), 0x1e5a7ffff7n);
    assert.equal(airplayFeatures({ ft: '0x4A7FDFD5' }), 0x4a7fdfd5n);
    assert.equal(airplayFeatures({ features: 'junk' }), null);
    assert.equal(requiresPassword({ pw: 'TRUE' }), true);
    assert.equal(requiresPassword({ sf: '0x80' }), true);
    assert.equal(requiresPassword({ flags: '0x4' }), false);
  });
});

describe('service-type table', () => {
  it('lists every service type pyatv browses (core/scan.py) once', () => {
    const types = SERVICE_TYPES.map((s) => s.type).sort();
    assert.deepEqual(types, [
      '_airplay._tcp',
      '_airport._tcp',
      '_appletv-v2._tcp',
      '_companion-link._tcp',
      '_device-info._tcp',
      '_hscp._tcp',
      '_mediaremotetv._tcp',
      '_raop._tcp',
      '_sleep-proxy._udp',
      '_touch-able._tcp',
    ]);
  });

  it('derives each unique id the way the reference says', () => {
    const id = (type: string, instance: string, txt: Record<string, string> = {}): string | null => uniqueIdOf({ type, instance, txt });
    assert.equal(id('_mediaremotetv._tcp', 'Kitchen', { UniqueIdentifier: 'MRP-1' }), 'MRP-1');
    assert.equal(id('_airplay._tcp', 'Kitchen', { deviceid: '00:11:22:33:44:55' }), '00:11:22:33:44:55');
    assert.equal(id('_companion-link._tcp', 'Kitchen', { rpMRtID: 'COMP-1', rpBA: 'rotating' }), 'COMP-1');
    assert.equal(id('_raop._tcp', '001122334455@Kitchen', { pk: 'ignored' }), '001122334455');
    assert.equal(id('_raop._tcp', 'Speaker', { pk: 'abcdef' }), 'abcdef');
    assert.equal(id('_raop._tcp', 'Speaker'), null);
    assert.equal(id('_touch-able._tcp', 'ABCDEF0123456789_1'), 'ABCDEF0123456789');
    assert.equal(id('_appletv-v2._tcp', 'ABCDEF0123456789_1'), 'ABCDEF0123456789');
    assert.equal(id('_hscp._tcp', 'Library', { 'Machine ID': 'M-1' }), 'M-1');
    assert.equal(id('_device-info._tcp', 'Kitchen', { model: 'J305AP' }), null);
    assert.equal(id('_sleep-proxy._udp', '70-35-60-63.1 Kitchen'), null);
  });
});

describe('models and OS versions', () => {
  it('maps raw and internal model names to marketing names and OS', () => {
    assert.deepEqual(lookupModel('AppleTV11,1'), { name: 'Apple TV 4K (gen 2)', operatingSystem: 'tvOS' });
    assert.deepEqual(lookupModel('J305AP'), { name: 'Apple TV 4K (gen 2)', operatingSystem: 'tvOS' });
    assert.equal(lookupModel('AppleTV3,2')?.operatingSystem, 'Apple TV Software');
    assert.equal(lookupModel('AudioAccessorySingle5,1')?.name, 'HomePod mini');
    assert.equal(lookupModel('AirPort10,115')?.operatingSystem, 'AirPort OS');
    assert.equal(lookupModel('MacBookPro18,3')?.operatingSystem, 'macOS');
    assert.equal(lookupModel('Toaster1,1'), null);
  });

  it('maps builds to versions, falling back to prefix − 4', () => {
    assert.equal(lookupOsVersion('18M60'), '14.7');
    assert.equal(lookupOsVersion('21L227'), '17.4');
    assert.equal(lookupOsVersion('23A100'), '19.x');
    assert.equal(lookupOsVersion('17Z1'), '13.x');
    assert.equal(lookupOsVersion('garbage'), null);
    assert.equal(lookupOsVersion(null), null);
  });
});

describe('pairing requirements', () => {
  const p = (type: string, txt: Record<string, string>, airplayTxt?: Record<string, string>): string =>
    pairingRequirement({ type, txt }, airplayTxt ? { airplayTxt } : {});

  it('AirPlay: acl, Mac models, status flags, act', () => {
    assert.equal(p('_airplay._tcp', { acl: '1', sf: '0x200' }), 'disabled');
    assert.equal(p('_airplay._tcp', { model: 'Mac14,2', sf: '0x200' }), 'unsupported');
    assert.equal(p('_airplay._tcp', { sf: '0x200' }), 'mandatory');
    assert.equal(p('_airplay._tcp', { flags: '0x8' }), 'mandatory');
    assert.equal(p('_airplay._tcp', { act: '2' }), 'unsupported');
    assert.equal(p('_airplay._tcp', { model: 'AppleTV11,1', flags: '0x244' }), 'mandatory');
    assert.equal(p('_airplay._tcp', { model: 'AppleTV11,1', flags: '0x44' }), 'not-needed');
  });

  it('RAOP inherits access control from the AirPlay service', () => {
    assert.equal(p('_raop._tcp', { sf: '0x4' }, { acl: '1' }), 'disabled');
    assert.equal(p('_raop._tcp', { sf: '0x4' }, { act: '2' }), 'unsupported');
    assert.equal(p('_raop._tcp', { sf: '0x204' }, {}), 'mandatory');
    assert.equal(p('_raop._tcp', { am: 'Mac13,1' }), 'unsupported');
    assert.equal(p('_raop._tcp', { sf: '0x4' }), 'not-needed');
  });

  it('Companion: rpFl bits (Apple TV 4K, HomePod, disabled)', () => {
    assert.equal(p('_companion-link._tcp', { rpFl: '0x36782' }), 'mandatory');
    assert.equal(p('_companion-link._tcp', { rpFl: '0x627B2' }), 'unsupported');
    assert.equal(p('_companion-link._tcp', { rpFl: '0x20000' }), 'unsupported');
    assert.equal(p('_companion-link._tcp', { rpFl: '0x4004' }), 'disabled');
    assert.equal(p('_companion-link._tcp', {}), 'unsupported');
  });

  it('MRP: AllowPairing, and not-needed once tvOS 15+ disables it', () => {
    assert.equal(p('_mediaremotetv._tcp', { AllowPairing: 'YES', SystemBuildVersion: '18M60' }), 'optional');
    assert.equal(p('_mediaremotetv._tcp', { allowpairing: 'no' }), 'disabled');
    assert.equal(p('_mediaremotetv._tcp', { AllowPairing: 'YES', SystemBuildVersion: '19J346' }), 'not-needed');
  });

  it('DMAP: optional with Home Sharing, else mandatory', () => {
    assert.equal(p('_appletv-v2._tcp', { hG: 'guid' }), 'optional');
    assert.equal(p('_hscp._tcp', { hg: 'guid' }), 'optional');
    assert.equal(p('_touch-able._tcp', { CtlN: 'x' }), 'mandatory');
  });
});

describe('devicesFromRecords', () => {
  const atv = (address: string, suffix: string): ServiceRecord[] => {
    const at = { addresses: [address], source: address };
    return [
      record('_mediaremotetv._tcp', 'Living Room', { Name: 'Living\u00a0Room', UniqueIdentifier: `MRP-${suffix}`, SystemBuildVersion: '18M60', macAddress: 'AA:AA:AA:AA:AA:AA', AllowPairing: 'YES' }, { port: 49152, ...at }),
      record('_airplay._tcp', 'Living Room', { deviceid: `AP-${suffix}`, model: 'AppleTV6,2', features: '0x5A7FFFF7,0x1E' }, { port: 7000, ...at }),
      record('_companion-link._tcp', 'Living Room', { rpMRtID: `CP-${suffix}`, rpFl: '0x36782', rpMd: 'AppleTV6,2' }, { port: 49153, ...at }),
      record('_raop._tcp', `RAOP${suffix}@Living Room`, { am: 'AppleTV6,2', sf: '0x4' }, { port: 7000, ...at }),
    ];
  };

  it('groups by address with every unique id, merged device info and one service per instance', () => {
    const devices = devicesFromRecords([...atv('10.0.0.5', '1'), ...atv('10.0.0.6', '2')]);
    assert.equal(devices.length, 2);
    const [one, two] = devices;
    assert.equal(one!.address, '10.0.0.5');
    assert.equal(two!.address, '10.0.0.6');
    assert.deepEqual(one!.identifiers, ['AP-1', 'MRP-1', 'CP-1', 'RAOP1']);
    assert.equal(one!.identifier, 'AP-1');
    assert.equal(one!.name, 'Living Room');
    assert.deepEqual(
      one!.services.map((s) => [s.protocol, s.port, s.identifier, s.pairing, s.enabled]),
      [
        ['mrp', 49152, 'MRP-1', 'optional', true],
        ['airplay', 7000, 'AP-1', 'not-needed', true],
        ['companion', 49153, 'CP-1', 'mandatory', true],
        ['raop', 7000, 'RAOP1', 'not-needed', true],
      ],
    );
    assert.deepEqual(one!.deviceInfo, {
      operatingSystem: 'tvOS',
      model: 'Apple TV 4K',
      rawModel: 'AppleTV6,2',
      osVersion: '14.7',
      buildNumber: '18M60',
      mac: 'AA:AA:AA:AA:AA:AA',
    });
    assert.equal(one!.deepSleep, false);
    assert.deepEqual(two!.identifiers, ['AP-2', 'MRP-2', 'CP-2', 'RAOP2']);
  });

  it('disables MRP on tvOS 15+ with a reason', () => {
    const [device] = devicesFromRecords([
      record('_mediaremotetv._tcp', 'TV', { Name: 'TV', UniqueIdentifier: 'M', SystemBuildVersion: '19J346', AllowPairing: 'YES' }),
      record('_airplay._tcp', 'TV', { deviceid: 'A', osvers: '15.0' }),
    ]);
    const mrp = device!.services.find((s) => s.protocol === 'mrp')!;
    assert.equal(mrp.enabled, false);
    assert.match(mrp.disabledReason!, /AirPlay/);
    assert.equal(mrp.pairing, 'not-needed');
    assert.equal(device!.services.find((s) => s.protocol === 'airplay')!.enabled, true);
    // An explicit osvers beats the build-derived version.
    assert.equal(device!.deviceInfo.osVersion, '15.0');
    const [old] = devicesFromRecords([record('_mediaremotetv._tcp', 'TV', { UniqueIdentifier: 'M', SystemBuildVersion: '18M60' })]);
    assert.equal(old!.services[0]!.enabled, true);
    assert.equal(old!.services[0]!.disabledReason, null);
  });

  it('flags a host whose every service has port 0 as deep sleeping, keeping the services', () => {
    const [device] = devicesFromRecords([
      record('_airplay._tcp', 'TV', { deviceid: 'A' }, { port: 0 }),
      record('_mediaremotetv._tcp', 'TV', { UniqueIdentifier: 'M' }, { port: 0 }),
    ]);
    assert.equal(device!.deepSleep, true);
    assert.deepEqual(device!.identifiers, ['A', 'M']);
    assert.equal(device!.services.length, 2);
    // Awake host: a stray port-0 service is dropped, the device is not flagged.
    const [awake] = devicesFromRecords([
      record('_airplay._tcp', 'TV', { deviceid: 'A' }, { port: 7000 }),
      record('_mediaremotetv._tcp', 'TV', { UniqueIdentifier: 'M' }, { port: 0 }),
    ]);
    assert.equal(awake!.deepSleep, false);
    assert.deepEqual(awake!.services.map((s) => s.protocol), ['airplay']);
    // Records a sleep proxy answered with are flagged too.
    const [proxied] = devicesFromRecords([record('_airplay._tcp', 'TV', { deviceid: 'A' }, { port: 7000, sleepProxy: true })]);
    assert.equal(proxied!.deepSleep, true);
  });

  it('passes Home Sharing credentials on and shares them with _touch-able', () => {
    const [device] = devicesFromRecords([
      record('_touch-able._tcp', '0123456789ABCDEF_1', { CtlN: 'Den' }, { port: 3689 }),
      record('_appletv-v2._tcp', '0123456789ABCDEF_1', { Name: 'Den', hG: '00000000-1111-2222-3333-444444444444' }, { port: 3689 }),
    ]);
    assert.equal(device!.name, 'Den');
    assert.deepEqual(device!.identifiers, ['0123456789ABCDEF']);
    assert.deepEqual(
      device!.services.map((s) => [s.serviceType, s.pairing, s.credentials]),
      [
        ['_touch-able._tcp', 'optional', '00000000-1111-2222-3333-444444444444'],
        ['_appletv-v2._tcp', 'optional', '00000000-1111-2222-3333-444444444444'],
      ],
    );
    assert.equal(device!.deviceInfo.operatingSystem, 'Apple TV Software');
    const [noHs] = devicesFromRecords([record('_touch-able._tcp', 'ABCD_1', { CtlN: 'Den' }, { port: 3689 })]);
    assert.equal(noHs!.services[0]!.pairing, 'mandatory');
    assert.equal(noHs!.services[0]!.credentials, null);
  });

  it('reports the Music app for _hscp', () => {
    const [device] = devicesFromRecords([
      record('_hscp._tcp', 'Library', { 'Machine ID': 'MID', 'Machine Name': 'Studio', hG: 'hs' }, { port: 3689 }),
    ]);
    assert.equal(device!.name, 'Studio');
    assert.equal(device!.deviceInfo.model, 'Music');
    assert.equal(device!.services[0]!.credentials, 'hs');
  });

  it('places TXT-only _device-info by instance name, not by the responder address', () => {
    const devices = devicesFromRecords([
      record('_airplay._tcp', 'Bedroom', { deviceid: 'B' }, { addresses: ['10.0.0.7'], source: '10.0.0.7' }),
      record('_device-info._tcp', 'Bedroom', { model: 'J255AP' }, { host: null, port: 0, addresses: ['10.0.0.99'], source: '10.0.0.99' }),
    ]);
    assert.equal(devices.length, 1);
    assert.equal(devices[0]!.address, '10.0.0.7');
    assert.equal(devices[0]!.deviceInfo.model, 'Apple TV 4K (gen 3)');
    assert.equal(devices[0]!.deviceInfo.rawModel, 'J255AP');
  });

  it('reads the AirPort Express MAC and version from _airport wama', () => {
    const [device] = devicesFromRecords([
      record('_raop._tcp', '001122334455@Kitchen', { am: 'AirPort10,115' }, { port: 7000 }),
      record('_airport._tcp', 'Kitchen', { wama: '00-11-22-33-44-aa,raMA=00-11-22-33-44-ab,syVs=7.8.1,srcv=78100.3' }, { port: 5009 }),
    ]);
    assert.equal(device!.name, 'Kitchen');
    assert.equal(device!.deviceInfo.mac, '00:11:22:33:44:AA');
    assert.equal(device!.deviceInfo.osVersion, '7.8.1');
    assert.equal(device!.deviceInfo.operatingSystem, 'AirPort OS');
    assert.equal(device!.deviceInfo.model, 'AirPort Express (gen 2)');
  });

  it('skips link-local addresses, bare PTRs and info-only hosts', () => {
    const devices = devicesFromRecords([
      record('_airplay._tcp', 'Old', { deviceid: 'LL' }, { addresses: ['169.254.3.4', '10.0.0.8'] }),
      record('_airplay._tcp', 'Gone', { deviceid: 'X' }, { addresses: ['169.254.9.9'] }),
      record('_airplay._tcp', 'Bare', {}, { host: null, port: 0, addresses: ['10.0.0.9'], sleepProxy: true }),
      record('_device-info._tcp', 'Lonely', { model: 'J305AP' }, { addresses: ['10.0.0.10'] }),
      record('_unknown._tcp', 'Other', { a: 'b' }, { addresses: ['10.0.0.11'] }),
    ]);
    assert.deepEqual(devices.map((d) => [d.address, d.identifiers]), [['10.0.0.8', ['LL']]]);
  });
});
