/**
 * The editor's pairing sessions (nodes/pairing.ts) with a stand-in for the library's pair()
 * and the clock: what the browser may see (never a credential), the limits, the binding to
 * one config node, and every way a session ends (paired and taken once, wrong PIN, back-off
 * with its wait, timeouts, abandoned by its browser, cancelled).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeviceConfig, PairingSession, Protocol } from '../../lib/device/interfaces';
import { BackOffError, PairingError } from '../../lib/errors';
import type { PairOptions } from '../../lib/protocols/descriptor';
import { ABANDONED_MS, DMAP_WAIT_MS, KEEP_PAIRED_MS, MAX_PAIRINGS, PairingRegistry, PIN_WAIT_MS, type PairingView } from '../../nodes/pairing';
import { sleep } from '../support/wait';

const SECRET = 'aa'.repeat(32) + ':' + 'bb'.repeat(32) + ':cc:dd';
const device = { name: 'TV', address: '127.0.0.1', identifier: 'X', identifiers: ['X'], services: [], deepSleep: false } as unknown as DeviceConfig;

/** A pairing session that does what the test says: `finish` waits for `settle`. */
class FakeSession implements PairingSession {
  readonly deviceProvidesPin: boolean;
  pin: string | null = null;
  closed = 0;
  options: PairOptions;
  private resolve!: (c: string) => void;
  private reject!: (e: Error) => void;
  private readonly result = new Promise<string>((res, rej) => ((this.resolve = res), (this.reject = rej)));

  constructor(
    readonly protocol: Protocol,
    options: PairOptions,
  ) {
    this.options = options;
    this.deviceProvidesPin = protocol !== 'dmap';
    this.result.catch(() => undefined);
  }
  async begin(): Promise<void> {}
  setPin(pin: string): void {
    this.pin = pin;
  }
  finish(): Promise<string> {
    return this.result;
  }
  succeed(): void {
    this.resolve(SECRET);
  }
  fail(error: Error): void {
    this.reject(error);
  }
  async close(): Promise<void> {
    this.closed++;
    this.reject(new PairingError('pairing was cancelled'));
  }
}

function setup() {
  let clock = 1_000_000;
  const sessions: FakeSession[] = [];
  const registry = new PairingRegistry({
    now: () => clock,
    pair: (protocol: Protocol, options: PairOptions = {}) => {
      const s = new FakeSession(protocol, options);
      sessions.push(s);
      return s;
    },
  });
  return { registry, sessions, tick: (ms: number) => (clock += ms) };
}

const settle = () => sleep(5);
const leaks = (view: PairingView) => JSON.stringify(view).includes('aa'.repeat(32));

describe('pairing sessions of the editor', () => {
  it('device shows the PIN: waiting for it, checking, paired; the credentials only through take(), once, for the same node', async () => {
    const { registry, sessions } = setup();
    const started = registry.start({ node: 'n1', protocol: 'mrp', device, name: 'Node-RED' });
    assert.equal(started.phase, 'starting');
    assert.equal(started.pin, null, 'no PIN of ours: the device shows one');
    await settle();
    assert.equal(registry.status(started.id, 'n1').phase, 'waiting-for-pin');
    assert.throws(() => registry.enterPin(started.id, 'n1', '12'), /4 digits/);
    assert.throws(() => registry.status(started.id, 'other-node'), /no such pairing/, 'bound to its config node');
    assert.equal(registry.enterPin(started.id, 'n1', ' 1234 ').phase, 'checking');
    assert.equal(sessions[0]!.pin, '1234');
    sessions[0]!.succeed();
    await settle();
    const paired = registry.status(started.id, 'n1');
    assert.equal(paired.phase, 'paired');
    assert.ok(!leaks(paired), 'the view carries no credential');
    assert.equal(registry.take('other-node', [started.id]).size, 0, 'another node cannot take them');
    assert.deepEqual([...registry.take('n1', [started.id])], [['mrp', SECRET]]);
    assert.equal(registry.take('n1', [started.id]).size, 0, 'only once');
    assert.throws(() => registry.status(started.id, 'n1'), /no such pairing/);
    assert.equal(sessions[0]!.closed > 0, true, 'the session is closed once paired');
  });

  it('we show the PIN (DMAP): ours in the view, wrong PINs the device sent counted, one DMAP announcement at a time', async () => {
    const { registry, sessions } = setup();
    const started = registry.start({ node: 'n1', protocol: 'dmap', device, name: 'Node-RED', announce: { interface: '127.0.0.1' } });
    assert.match(started.pin!, /^\d{4}$/);
    assert.equal(sessions[0]!.options.pin, started.pin, 'the PIN we show is the one the session checks');
    assert.equal(sessions[0]!.options.interface, '127.0.0.1', 'announced where settings.js says');
    await settle();
    assert.equal(registry.status(started.id, 'n1').phase, 'waiting-for-device');
    sessions[0]!.options.onWrongPin!();
    assert.equal(registry.status(started.id, 'n1').wrongPins, 1);
    assert.throws(() => registry.start({ node: 'n2', protocol: 'dmap', device, name: 'Node-RED' }), /another DMAP pairing/);
    assert.throws(() => registry.enterPin(started.id, 'n1', '1234'), /takes no PIN/);
    sessions[0]!.succeed();
    await settle();
    assert.equal(registry.status(started.id, 'n1').phase, 'paired');
  });

  it('a wrong PIN and a back-off end the session with what to do; Try again replaces it', async () => {
    const { registry, sessions } = setup();
    const first = registry.start({ node: 'n1', protocol: 'mrp', device, name: 'Node-RED' });
    await settle();
    registry.enterPin(first.id, 'n1', '0000');
    sessions[0]!.fail(new PairingError('wrong PIN: the device rejected it'));
    await settle();
    const failed = registry.status(first.id, 'n1');
    assert.equal(failed.phase, 'failed');
    assert.deepEqual(failed.error, { code: 'PAIRING', message: 'wrong PIN: the device rejected it', retryAfter: null });
    const again = registry.start({ node: 'n1', protocol: 'mrp', device, name: 'Node-RED' });
    await settle();
    registry.enterPin(again.id, 'n1', '0000');
    sessions[1]!.fail(new BackOffError(30, 'the device refuses pairing attempts for now'));
    await settle();
    assert.deepEqual(registry.status(again.id, 'n1').error, { code: 'BACKOFF', message: 'the device refuses pairing attempts for now', retryAfter: 30 });
  });

  it(`at most ${MAX_PAIRINGS} at once; cancel closes the session and frees its place`, async () => {
    const { registry, sessions } = setup();
    const views = Array.from({ length: MAX_PAIRINGS }, (_, i) => registry.start({ node: `n${i}`, protocol: 'mrp', device, name: 'Node-RED' }));
    assert.throws(() => registry.start({ node: 'late', protocol: 'mrp', device, name: 'Node-RED' }), /under way already/);
    await registry.cancel(views[0]!.id, 'n0');
    assert.equal(sessions[0]!.closed, 1);
    assert.equal(registry.active, MAX_PAIRINGS - 1);
    registry.start({ node: 'late', protocol: 'mrp', device, name: 'Node-RED' });
    await registry.close();
    assert.ok(sessions.every((s) => s.closed > 0), 'closing the registry ends every session');
  });

  it('times out waiting for a PIN or the device, ends sessions their browser left, forgets untaken credentials', async () => {
    const { registry, sessions, tick } = setup();
    const mrp = registry.start({ node: 'n1', protocol: 'mrp', device, name: 'Node-RED' });
    const dmap = registry.start({ node: 'n2', protocol: 'dmap', device, name: 'Node-RED' });
    await settle();
    // The browsers keep asking, so neither is abandoned; the PIN wait ends first.
    for (let waited = 0; waited <= PIN_WAIT_MS; waited += ABANDONED_MS / 2) {
      tick(ABANDONED_MS / 2);
      registry.status(mrp.id, 'n1');
      registry.status(dmap.id, 'n2');
      registry.sweep();
    }
    await settle();
    const timedOut = registry.status(mrp.id, 'n1');
    assert.equal(timedOut.phase, 'failed');
    assert.equal(timedOut.error?.code, 'TIMEOUT');
    assert.match(timedOut.error!.message, /no PIN was entered/);
    for (let waited = PIN_WAIT_MS; waited <= DMAP_WAIT_MS; waited += ABANDONED_MS / 2) {
      tick(ABANDONED_MS / 2);
      registry.status(dmap.id, 'n2');
      registry.sweep();
    }
    assert.match(registry.status(dmap.id, 'n2').error!.message, /no device called back/);
    assert.ok(sessions[0]!.closed > 0 && sessions[1]!.closed > 0);

    // A browser that stops asking (tab closed): its session ends.
    const left = registry.start({ node: 'n3', protocol: 'mrp', device, name: 'Node-RED' });
    await settle();
    tick(ABANDONED_MS);
    registry.sweep();
    assert.throws(() => registry.status(left.id, 'n3'), /no such pairing/);
    assert.ok(sessions[2]!.closed > 0);

    // Paired but the dialog never saved: forgotten after a while, however often asked.
    const paired = registry.start({ node: 'n4', protocol: 'mrp', device, name: 'Node-RED' });
    await settle();
    registry.enterPin(paired.id, 'n4', '1234');
    sessions[3]!.succeed();
    await settle();
    tick(KEEP_PAIRED_MS);
    registry.sweep();
    assert.equal(registry.take('n4', [paired.id]).size, 0);
    await registry.close();
  });
});
