import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { LIVENESS_PROBE_AFTER_MS, LIVENESS_TIMEOUT_MS, LivenessMonitor } from '../../../lib/support/liveness';

/** Fake time: setTimeout and the monitor's clock move together; promises settle in between. */
let now = 0;
async function advance(ms: number): Promise<void> {
  for (let i = 0; i < ms; i += 100) {
    now += 100;
    mock.timers.tick(100);
    await new Promise((r) => setImmediate(r));
  }
}

describe('LivenessMonitor', () => {
  beforeEach(() => {
    now = 0;
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => mock.timers.reset());

  function monitor(answer: 'never' | 'at once') {
    const probes: number[] = [];
    const lost: number[] = [];
    const m: LivenessMonitor = new LivenessMonitor({
      clock: () => now,
      probe: async () => {
        probes.push(now);
        if (answer === 'at once') m.heard();
      },
      onLost: (silent) => lost.push(silent),
    });
    return { m, probes, lost };
  }

  it('is one bound for every protocol: 30 s, the probe after 20 s of silence', () => {
    assert.equal(LIVENESS_TIMEOUT_MS, 30_000);
    assert.equal(LIVENESS_PROBE_AFTER_MS, 20_000);
  });

  it('never probes a device that keeps sending', async () => {
    const { m, probes, lost } = monitor('never');
    m.start();
    for (let t = 0; t < 120_000; t += 5000) {
      await advance(5000);
      m.heard();
    }
    assert.deepEqual(probes, []);
    assert.deepEqual(lost, []);
    m.stop();
  });

  it('probes an idle device once per 20 s of silence, and keeps it while it answers', async () => {
    const { m, probes, lost } = monitor('at once');
    m.start();
    await advance(100_000);
    assert.deepEqual(probes, [20_000, 40_000, 60_000, 80_000, 100_000]);
    assert.deepEqual(lost, []);
    m.stop();
  });

  it('declares a silent device lost 30 s after its last sign of life, probing once', async () => {
    const { m, probes, lost } = monitor('never');
    m.start();
    await advance(7000);
    m.heard();
    await advance(36_000);
    assert.deepEqual(probes, [27_000]);
    assert.deepEqual(lost, [30_000]);
    await advance(60_000);
    assert.deepEqual(lost, [30_000], 'once');
  });

  it('stop() ends everything and aborts a probe in flight', async () => {
    let signal: AbortSignal | undefined;
    const lost: number[] = [];
    const m = new LivenessMonitor({
      clock: () => now,
      timeout: 3000,
      probeAfter: 1000,
      probe: (s) => {
        signal = s;
        return new Promise(() => undefined);
      },
      onLost: (silent) => lost.push(silent),
    });
    m.start();
    await advance(1500);
    assert.equal(signal?.aborted, false);
    m.stop();
    assert.equal(signal?.aborted, true);
    await advance(10_000);
    assert.deepEqual(lost, []);
  });
});
