/**
 * `atvlink simulate` as a real child process: its banner's ready-to-paste command lines must
 * work, a PIN on its stdin must pair with a waiting `atvlink pair`, and Ctrl-C (or the end of
 * stdin) must stop it cleanly with exit code 0.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { NowPlaying } from '../../../lib/device/state';
import { argsOf, cli, MULTICAST_SKIP, spawnCli, startCli, stopChild, type Child, type Run } from './support';

describe('atvlink simulate', () => {
  const children: Child[] = [];
  const runs: Run[] = [];
  after(async () => {
    for (const r of runs) r.abort();
    await Promise.all(runs.map((r) => r.done));
    for (const c of children) await stopChild(c);
  });

  function simulate(args: string[]): Child {
    const child = spawnCli(['simulate', ...args]);
    children.push(child);
    return child;
  }

  async function stopWithSigint(child: Child): Promise<void> {
    const started = Date.now();
    child.process.kill('SIGINT');
    const { code } = await child.exited;
    assert.equal(code, 0, child.stderr.text);
    assert.ok(Date.now() - started < 3000, `stopped in ${Date.now() - started} ms`);
    assert.match(child.stdout.text, /simulator stopped\n$/);
  }

  it('unicast: prints how to connect, the printed commands work, a PIN on stdin pairs, SIGINT stops it', async () => {
    // The remote first: the simulator is told where its DNS-SD answers are.
    const pair = startCli(['pair', '--protocol', 'dmap', '--interface', '127.0.0.1', '--no-multicast', '--announce-port', '0', '--pin', '3141', '--json', '--timeout', '30']);
    runs.push(pair);
    const [, announcePort] = await pair.stderr.waitFor(/udp 127\.0\.0\.1:(\d+)/);

    const child = simulate(['--no-multicast', '--mdns-port', '0', '--name', 'Child Sim', '--pair-host', '127.0.0.1', '--pair-mdns-port', announcePort!]);
    await child.stdout.waitFor(/^ready$/m);
    assert.match(child.stdout.text, /^Child Sim \(id [0-9A-F]{16}\) on 127\.0\.0\.1$/m);
    const [hostLine] = await child.stdout.waitFor(/^ {2}atvlink state --host .*$/m);
    const [idLine] = await child.stdout.waitFor(/^ {2}atvlink state --id .*$/m);

    const state = await cli([...argsOf(hostLine), '--json']);
    assert.equal(state.code, 0, state.stderr);
    assert.equal((JSON.parse(state.stdout) as NowPlaying).title, 'Loopback Overture');
    const byId = await cli([...argsOf(idLine), '--json', '--timeout', '2']);
    assert.equal(byId.code, 0, byId.stderr);

    // A command name on stdin acts on the player.
    child.process.stdin.write('next\n');
    await child.stdout.waitFor(/Revision Number Nine/);
    const after = await cli([...argsOf(hostLine), '--json']);
    assert.equal((JSON.parse(after.stdout) as NowPlaying).title, 'Revision Number Nine');

    child.process.stdin.write('3141\n');
    const [, accepted] = await child.stdout.waitFor(/accepted dmap credentials (0x[0-9A-F]{16})/);
    assert.equal(await pair.done, 0, pair.stderr.text);
    assert.deepEqual(JSON.parse(pair.stdout.text), { protocol: 'dmap', credentials: accepted });

    const hostArgs = argsOf(hostLine);
    hostArgs[hostArgs.indexOf('--credentials') + 1] = accepted!;
    const paired = await cli(hostArgs);
    assert.equal(paired.code, 0, paired.stderr);

    await stopWithSigint(child);
  });

  it('stops at the end of stdin, and on SIGTERM', async () => {
    const eof = simulate(['--no-multicast']);
    await eof.stdout.waitFor(/^ready$/m);
    eof.process.stdin.end();
    assert.equal((await eof.exited).code, 0);

    const term = simulate(['--no-multicast', '--no-stdin']);
    await term.stdout.waitFor(/^ready$/m);
    term.process.kill('SIGTERM');
    assert.equal((await term.exited).code, 0);
  });

  it('multicast: found by an mDNS scan, pairs with a multicast remote', { skip: MULTICAST_SKIP }, async () => {
    const pair = startCli(['pair', '--protocol', 'dmap', '--interface', '127.0.0.1', '--pin', '2718', '--name', 'CLI Sim Multicast Remote', '--json', '--timeout', '30']);
    runs.push(pair);
    await pair.stderr.waitFor(/type the PIN/);
    const child = simulate(['--name', 'Multicast Child Sim', '--pair-name', 'CLI Sim Multicast Remote', '--pair-timeout', '2']);
    await child.stdout.waitFor(/^ready$/m);
    assert.match(child.stdout.text, /^DNS-SD: multicast/m);
    const [multicastLine] = await child.stdout.waitFor(/^ {2}atvlink state --id [0-9A-F]{16} --credentials .*$/m);
    const state = await cli([...argsOf(multicastLine), '--interface', '127.0.0.1', '--json']);
    assert.equal(state.code, 0, state.stderr);

    child.process.stdin.write('2718\n');
    const [, accepted] = await child.stdout.waitFor(/accepted dmap credentials (0x[0-9A-F]{16})/);
    assert.equal(await pair.done, 0, pair.stderr.text);
    assert.deepEqual(JSON.parse(pair.stdout.text), { protocol: 'dmap', credentials: accepted });
    await stopWithSigint(child);
  });
});
