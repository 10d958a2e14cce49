/**
 * Which addresses we publish in our own A records (DMAP pairing's remote, the simulator's
 * device): the interfaces discovery uses, link-local and loopback left out, or the one the
 * caller chose. Each case runs in a fresh network namespace of its own (nothing in it reaches
 * anything, nothing multicasts: the announcers answer DNS-SD on a unicast socket, which a
 * query there reads back) holding a LAN on carrier-grade NAT space, an RFC 1918 address, a
 * public one and a link-local one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../../support/paths';

const skip = process.env.ATV_TEST_NETNS === '1' ? false : 'needs a private network namespace (npm test makes one when run as root)';
const DIST = join(REPO_ROOT, 'dist', 'lib');

const SETUP = [
  'ip link set lo up',
  'ip link add va type veth peer name vb',
  'ip addr add 100.64.0.5/10 dev va',
  'ip addr add 10.1.2.3/24 dev va',
  'ip addr add 203.0.113.7/24 dev vb',
  'ip addr add 169.254.3.4/16 dev vb',
  'ip link set va up',
  'ip link set vb up',
].join(' && ');

/**
 * Runs `start` (a JS expression resolving with `{ port, type, stop }`) in a fresh namespace,
 * asks 127.0.0.1:port for the PTR of `type` and returns the A records of the answer.
 */
function announcedIn(start: string): string[] {
  const script = `
    const dgram = require('node:dgram');
    const dnsPacket = require('dns-packet');
    const dist = ${JSON.stringify(DIST)};
    (${start}).then(({ port, type, stop }) => {
      const socket = dgram.createSocket('udp4');
      socket.on('message', (bytes) => {
        const packet = dnsPacket.decode(bytes);
        const addresses = [...packet.answers, ...(packet.additionals || [])].filter((a) => a.type === 'A').map((a) => a.data);
        socket.close();
        stop().then(() => { console.log(JSON.stringify([...new Set(addresses)].sort())); process.exit(0); });
      });
      socket.send(dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: type + '.local', type: 'PTR' }] }), port, '127.0.0.1');
    }, (err) => { console.error(err.message); process.exit(1); });`;
  const run = spawnSync('unshare', ['--net', 'sh', '-c', `${SETUP} && exec "$0" -e "$1"`, process.execPath, script], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as string[];
}

function dmapPairing(options: string): string {
  return `(async () => {
    const { DmapPairing } = require(dist + '/protocols/dmap/pairing.js');
    const pairing = new DmapPairing({ pin: '1234', ...${options}, advertiser: { multicast: false, unicast: { host: '127.0.0.1', port: 0 } } });
    await pairing.begin();
    return { port: pairing.serviceAdvertiser.unicastPort, type: '_touch-remote._tcp', stop: () => pairing.close() };
  })()`;
}

function simulator(options: string): string {
  return `(async () => {
    const { Simulator } = require(dist + '/simulator/index.js');
    const sim = new Simulator({ name: 'Announced', host: '0.0.0.0', mdnsPort: 0, ...${options} });
    await sim.start();
    return { port: sim.mdnsPort, type: '_touch-able._tcp', stop: () => sim.stop() };
  })()`;
}

describe('addresses we announce ourselves at', { skip }, () => {
  it('DMAP pairing: every address of this host but link-local and loopback, public and 100.64/10 ones included', () => {
    assert.deepEqual(announcedIn(dmapPairing('{}')), ['10.1.2.3', '100.64.0.5', '203.0.113.7']);
  });

  it('DMAP pairing: only the chosen interface when one is given', () => {
    assert.deepEqual(announcedIn(dmapPairing("{ interface: '100.64.0.5' }")), ['100.64.0.5']);
  });

  it('the simulator on 0.0.0.0 announces the same addresses, or the chosen interface', () => {
    assert.deepEqual(announcedIn(simulator('{}')), ['10.1.2.3', '100.64.0.5', '203.0.113.7']);
    assert.deepEqual(announcedIn(simulator("{ interface: '203.0.113.7' }")), ['203.0.113.7']);
  });
});
