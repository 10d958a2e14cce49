/**
 * `atvlink pair --protocol dmap` end to end: the CLI announces itself and waits while the test
 * plays the device (the simulator's pairWithRemote) with the same PIN; the credentials the
 * CLI prints must be the ones the simulator accepted, and must log in.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { EXIT } from '../../../lib/cli/exit-codes';
import { pairableProtocols } from '../../../lib/protocols/table';
import { SIMULATED_PROTOCOLS, Simulator } from '../../../lib/simulator';
import { cli, MULTICAST_SKIP, spawnCli, startCli, stopChild, type Child } from './support';

const UNICAST_PAIR = ['pair', '--protocol', 'dmap', '--interface', '127.0.0.1', '--no-multicast', '--announce-port', '0', '--timeout', '20'];

describe('atvlink pair (DMAP)', () => {
  const sims: Simulator[] = [];
  const children: Child[] = [];
  after(async () => {
    for (const c of children) await stopChild(c);
    for (const s of sims) await s.stop();
  });

  async function simulator(options: ConstructorParameters<typeof Simulator>[0] = {}): Promise<Simulator> {
    const sim = new Simulator({ name: 'Pairing TV', homeSharing: false, ...options });
    sims.push(sim);
    await sim.start();
    return sim;
  }

  it('in-process, unicast: prints the PIN, pairs, prints {"protocol","credentials"} that log in', async () => {
    const sim = await simulator();
    const run = startCli([...UNICAST_PAIR, '--pin', '4821', '--name', 'CLI Remote', '--json']);
    const [, port] = await run.stderr.waitFor(/udp 127\.0\.0\.1:(\d+)/);
    await run.stderr.waitFor(/type the PIN: +4821/);
    const result = await sim.pairWithRemote('4821', { hosts: ['127.0.0.1'], mdnsPort: Number(port), remoteName: 'CLI Remote' });
    assert.equal(await run.done, 0, run.stderr.text);
    const printed = JSON.parse(run.stdout.text) as { protocol: string; credentials: string };
    assert.deepEqual(printed, { protocol: 'dmap', credentials: result.credentials });
    assert.equal(result.remoteName, 'CLI Remote');
    assert.match(printed.credentials, /^0x[0-9A-F]{16}$/);
    assert.ok(!run.stderr.text.includes(printed.credentials.slice(2)), 'credentials only on stdout');

    const state = await cli(['state', '--host', '127.0.0.1', '--port', String(sim.dmapPort), '--credentials', printed.credentials]);
    assert.equal(state.code, 0, state.stderr);
  });

  it('child process, unicast, random PIN: reads the PIN it prints and pairs', async () => {
    const sim = await simulator();
    const child = spawnCli(UNICAST_PAIR);
    children.push(child);
    const [, port] = await child.stdout.waitFor(/udp 127\.0\.0\.1:(\d+)/);
    const [, pin] = await child.stdout.waitFor(/type the PIN: +(\d{4})/);
    const result = await sim.pairWithRemote(pin!, { hosts: ['127.0.0.1'], mdnsPort: Number(port) });
    const { code } = await child.exited;
    assert.equal(code, 0, child.stderr.text);
    const lines = child.stdout.text.split('\n').filter((l) => l.includes(result.credentials));
    assert.deepEqual(lines, [`dmap credentials: ${result.credentials}`], 'the credentials are printed once, on one line');
    assert.ok(sim.acceptedCredentials.includes(result.credentials));
  });

  it('a wrong PIN typed on the device is refused and the CLI keeps waiting; Ctrl-C cancels with 130', async () => {
    const sim = await simulator();
    const run = startCli([...UNICAST_PAIR, '--pin', '1111']);
    const [, port] = await run.stdout.waitFor(/udp 127\.0\.0\.1:(\d+)/);
    await assert.rejects(sim.pairWithRemote('2222', { hosts: ['127.0.0.1'], mdnsPort: Number(port) }), /refused the pairing/);
    run.abort();
    assert.equal(await run.done, EXIT.cancelled);
    assert.match(run.stderr.text, /pairing cancelled/);
    assert.equal(sim.acceptedCredentials.length, 1, 'only the demo credentials');
  });

  it('times out with the pairing exit code and a message saying what to do', async () => {
    const { code, stderr } = await cli([...UNICAST_PAIR.filter((w) => w !== '20' && w !== '--timeout'), '--timeout', '1']);
    assert.equal(code, EXIT.pairing);
    assert.match(stderr, /pairing failed: no device paired within 1 s/);
  });

  it('refuses options that do not fit', async () => {
    const noProtocol = await cli(['pair']);
    assert.equal(noProtocol.code, EXIT.usage);
    assert.match(noProtocol.stderr, /which protocol\? give --protocol/);
    assert.match(noProtocol.stderr, /pairing works over [a-z, ]*\bdmap\b/);
    const badPin = await cli(['pair', '--protocol', 'dmap', '--pin', '12345', '--interface', '127.0.0.1', '--no-multicast']);
    assert.equal(badPin.code, EXIT.usage);
    assert.match(badPin.stderr, /4 digits/);
    const unsupported = await cli(['pair', '--protocol', 'raop']);
    assert.equal(unsupported.code, EXIT.notSupported);
  });

  it('multicast: the device finds the CLI remote by mDNS and pairs', { skip: MULTICAST_SKIP }, async () => {
    const sim = await simulator({ multicast: true, name: 'Multicast Pairing TV' });
    const run = startCli(['pair', '--protocol', 'dmap', '--interface', '127.0.0.1', '--pin', '7531', '--name', 'CLI Multicast Remote', '--json', '--timeout', '20']);
    await run.stderr.waitFor(/type the PIN: +7531/);
    const result = await sim.pairWithRemote('7531', { remoteName: 'CLI Multicast Remote', timeout: 2000 });
    assert.equal(await run.done, 0, run.stderr.text);
    assert.deepEqual(JSON.parse(run.stdout.text), { protocol: 'dmap', credentials: result.credentials });
  });
});

describe('atvlink pair where the device shows the PIN', () => {
  const canPairMrp = pairableProtocols().includes('mrp') && (SIMULATED_PROTOCOLS as readonly string[]).includes('mrp');

  it(
    'reads the PIN from stdin, prints the credentials, and they connect (MRP simulator)',
    { skip: canPairMrp ? false : 'no MRP pairing or MRP simulator in this build' },
    async () => {
      const sim = new Simulator({ name: 'PIN TV', protocols: ['dmap', 'mrp'] });
      await sim.start();
      try {
        const port = sim.config().services.find((s) => s.protocol === 'mrp')!.port;
        const run = startCli(['pair', '--protocol', 'mrp', '--host', '127.0.0.1', '--port', String(port), '--timeout', '20', '--json']);
        // The TV shows the PIN; the user types it into the CLI.
        sim.on('pin', (request) => run.stdin.write(`${request.pin}\n`));
        assert.equal(await run.done, 0, run.stderr.text);
        assert.match(run.stderr.text, /Enter the PIN shown on the TV/);
        const printed = JSON.parse(run.stdout.text) as { protocol: string; credentials: string };
        assert.equal(printed.protocol, 'mrp');
        const state = await cli(['state', '--host', '127.0.0.1', '--port', String(port), '--protocol', 'mrp', '--credentials', printed.credentials, '--json']);
        assert.equal(state.code, 0, state.stderr);
        assert.equal((JSON.parse(state.stdout) as { title: string }).title, sim.state.nowPlaying().title);
        assert.ok(!state.stderr.includes(printed.credentials));
      } finally {
        await sim.stop();
      }
    },
  );

  it('without --pin and with stdin at its end, fails with the pairing exit code', { skip: canPairMrp ? false : 'no MRP pairing in this build' }, async () => {
    const sim = new Simulator({ name: 'PIN TV 2', protocols: ['mrp'] });
    await sim.start();
    try {
      const port = sim.config().services.find((s) => s.protocol === 'mrp')!.port;
      const run = startCli(['pair', '--protocol', 'mrp', '--host', '127.0.0.1', '--port', String(port), '--timeout', '20']);
      run.stdin.end();
      assert.equal(await run.done, EXIT.pairing, run.stderr.text);
      assert.match(run.stderr.text, /no PIN was entered/);
    } finally {
      await sim.stop();
    }
  });
});
