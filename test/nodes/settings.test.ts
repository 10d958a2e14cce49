/**
 * The settings.js options the nodes read for discovery and DMAP pairing: what a user typed
 * there is checked, kept when it can work and named in a warning when it cannot.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pairingAnnouncement } from '../../nodes/atvlink-device/atvlink-device';
import { discoverySettings } from '../../nodes/discovery';

describe('settings.js: atvlinkDeviceDiscovery and atvlinkDevicePairing', () => {
  it('reads responders as host or host:port, and warns about the rest', () => {
    assert.deepEqual(discoverySettings(undefined), { responders: [], problems: [] });
    const { responders, problems } = discoverySettings({ hosts: ['192.168.1.20', '127.0.0.1:5354', 'bad host', 'x:99999', 42] });
    assert.deepEqual(responders, [{ host: '192.168.1.20' }, { host: '127.0.0.1', port: 5354 }]);
    assert.equal(problems.length, 3);
    assert.match(discoverySettings('127.0.0.1').problems[0]!, /like \{ hosts:/);
  });

  it('reads where DMAP pairing announces the remote', () => {
    assert.deepEqual(pairingAnnouncement(undefined), { announce: {}, problems: [] });
    assert.deepEqual(pairingAnnouncement({ interface: '127.0.0.1', multicast: false, announcePort: 5355 }).announce, {
      interface: '127.0.0.1',
      advertiser: { multicast: false, unicast: { host: '127.0.0.1', port: 5355 } },
    });
    assert.deepEqual(pairingAnnouncement({ interface: '192.168.1.10' }).announce, { interface: '192.168.1.10' }, 'multicast as usual');
    const bad = pairingAnnouncement({ interface: 'eth0', announcePort: -1 });
    assert.equal(bad.problems.length, 2);
    assert.deepEqual(bad.announce, {});
  });
});
