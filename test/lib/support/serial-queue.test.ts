import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClosedError } from '../../../lib/errors';
import { SerialQueue } from '../../../lib/support/serial-queue';

/** A task that records when it starts and ends, and finishes when told to. */
function step(log: string[], name: string): { task: () => Promise<string>; finish: () => void } {
  let finish!: () => void;
  const gate = new Promise<void>((resolve) => (finish = resolve));
  return {
    task: async () => {
      log.push(`${name} start`);
      await gate;
      log.push(`${name} end`);
      return name;
    },
    finish: () => finish(),
  };
}

describe('SerialQueue', () => {
  it('runs tasks one at a time in call order, each caller getting its own result', async () => {
    const queue = new SerialQueue();
    const log: string[] = [];
    const a = step(log, 'a');
    const b = step(log, 'b');
    const c = step(log, 'c');
    const results = [queue.run(a.task), queue.run(b.task), queue.run(c.task)];
    assert.deepEqual(log, ['a start'], 'the first starts at once, the others wait');
    assert.equal(queue.size, 3);
    // Finishing out of order changes nothing: b only starts once a has ended.
    c.finish();
    b.finish();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(log, ['a start']);
    a.finish();
    assert.deepEqual(await Promise.all(results), ['a', 'b', 'c']);
    assert.deepEqual(log, ['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
    assert.equal(queue.size, 0);
  });

  it('a failing task rejects only its caller; the queue goes on', async () => {
    const queue = new SerialQueue();
    const order: string[] = [];
    const failing = queue.run(async () => {
      order.push('fail');
      throw new Error('device said no');
    });
    const throwing = queue.run(() => {
      order.push('throw');
      throw new TypeError('synchronous');
    });
    const fine = queue.run(async () => {
      order.push('fine');
      return 42;
    });
    await assert.rejects(failing, /device said no/);
    await assert.rejects(throwing, TypeError);
    assert.equal(await fine, 42);
    assert.deepEqual(order, ['fail', 'throw', 'fine']);
  });

  it('close() rejects the waiting tasks and later ones; the running one finishes', async () => {
    const queue = new SerialQueue();
    const log: string[] = [];
    const running = step(log, 'running');
    const first = queue.run(running.task);
    const waiting = queue.run(async () => log.push('never'));
    queue.close();
    await assert.rejects(waiting, ClosedError);
    await assert.rejects(queue.run(async () => 1), ClosedError);
    running.finish();
    assert.equal(await first, 'running');
    assert.deepEqual(log, ['running start', 'running end']);
    const custom = new SerialQueue();
    custom.close(new Error('device gone'));
    await assert.rejects(custom.run(async () => 1), /device gone/);
  });
});
