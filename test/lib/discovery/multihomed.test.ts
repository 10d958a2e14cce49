/**
 * A host on several networks must announce on all of them (issue: "announce on the same
 * interfaces as discovery"), not only where the default multicast route points. Two fresh
 * network namespaces joined by a veth pair stand in for "this host" (loopback + 10.99.0.1)
 * and "another machine on the second network" (10.99.0.2); the multicast route of the first
 * points at its loopback, so only an advertiser that sends on every interface is found from
 * the second. Runs only inside the test namespace, where we are root; nothing leaves it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../../support/paths';

const skip = process.env.ATV_TEST_NETNS === '1' ? false : 'needs a private network namespace (npm test makes one when run as root)';
const DIST = join(REPO_ROOT, 'dist', 'lib', 'discovery');
const MDNS = join(REPO_ROOT, 'dist', 'lib', 'mdns');

function sh(cmd: string): void {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
}

/** Runs a Node script inside the network namespace of `pid`; resolves with its stdout. */
function nodeIn(pid: number, script: string): { child: ChildProcess; output: Promise<string> } {
  const child = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const output = new Promise<string>((resolve) => child.on('close', () => resolve(out)));
  return { child, output };
}

function advertiserScript(pinned: string | null): string {
  return `
    const { ServiceAdvertiser } = require(${JSON.stringify(join(MDNS, 'advertiser.js'))});
    const adv = new ServiceAdvertiser(${pinned ? `{ interface: ${JSON.stringify(pinned)} }` : '{}'});
    adv.add({ type: '_touch-able._tcp', instance: 'ABCDEF0123456789', host: 'multihomed.local',
      addresses: ['10.99.0.1'], port: 3689, txt: { CtlN: 'Multi-homed TV' } });
    adv.start().then(() => console.log('ready'));
    process.stdin.on('end', () => adv.stop().then(() => process.exit(0)));
    process.stdin.resume();`;
}

// A browser on the other network: it asks from port 5353 without the unicast-response bit,
// so everything it learns must arrive by multicast on its link — the announcements at start
// and the multicast answers. (A one-shot scan would get unicast answers routed to it anyway.)
const browseScript = `
  const { DeviceBrowser } = require(${JSON.stringify(join(DIST, 'browser.js'))});
  const browser = new DeviceBrowser();
  const names = new Set();
  browser.on('added', (d) => names.add(d.name));
  browser.start().then(() => console.log('ready'));
  setTimeout(() => browser.stop().then(() => { console.log(JSON.stringify([...names])); process.exit(0); }), 2500);`;

describe('advertising on a host with several networks', { skip }, () => {
  const holders: ChildProcess[] = [];
  let host = 0;
  let other = 0;

  before(() => {
    for (let i = 0; i < 2; i++) holders.push(spawn('unshare', ['--net', 'sleep', '120'], { stdio: 'ignore' }));
    [host, other] = holders.map((h) => h.pid!) as [number, number];
    // Give unshare a moment to enter its namespace before we move links into it.
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && spawnSync('sh', ['-c', `[ "$(readlink /proc/${other}/ns/net)" != "$(readlink /proc/self/ns/net)" ]`]).status !== 0);
    sh(`ip link add va netns ${host} type veth peer name vb netns ${other}`);
    sh(`nsenter --net=/proc/${host}/ns/net sh -c 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && ip addr add 10.99.0.1/24 dev va && ip link set va up'`);
    sh(`nsenter --net=/proc/${other}/ns/net sh -c 'ip link set lo up && ip addr add 10.99.0.2/24 dev vb && ip link set vb up && ip link set vb multicast on && ip route add 224.0.0.0/4 dev vb'`);
  });

  after(() => {
    for (const h of holders) h.kill();
  });

  async function foundFromOtherNetwork(pinned: string | null): Promise<string[]> {
    const browser = nodeIn(other, browseScript);
    await new Promise<void>((resolve) => browser.child.stdout!.once('data', () => resolve()));
    const adv = nodeIn(host, advertiserScript(pinned));
    try {
      const lines = (await browser.output).trim().split('\n');
      return JSON.parse(lines[lines.length - 1]!) as string[];
    } finally {
      adv.child.stdin!.end();
      await adv.output;
    }
  }

  it('without a pinned interface, a machine on the second network finds the service', async () => {
    assert.deepEqual(await foundFromOtherNetwork(null), ['Multi-homed TV']);
  });

  it('pinned to loopback, the second network hears nothing (the control)', async () => {
    assert.deepEqual(await foundFromOtherNetwork('127.0.0.1'), []);
  });
});
