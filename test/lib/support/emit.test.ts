import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { emitContained } from '../../../lib/support/emit';

interface Events {
  tick: [n: number];
}

describe('emitContained', () => {
  it('calls every listener in order, logs the ones that throw, and honours once()', () => {
    const emitter = new EventEmitter<Events>();
    const warnings: string[] = [];
    const logger = { debug() {}, warn: (m: string) => warnings.push(m) };
    const seen: string[] = [];
    emitter.on('tick', (n) => seen.push(`a${n}`));
    emitter.on('tick', () => {
      throw new Error('boom');
    });
    emitter.once('tick', (n) => seen.push(`once${n}`));
    emitter.on('tick', function (this: unknown, n) {
      seen.push(`d${n}:${this === emitter}`);
    });
    assert.equal(emitContained<Events, 'tick'>(emitter, 'tick', [1], logger), true);
    assert.equal(emitContained<Events, 'tick'>(emitter, 'tick', [2], logger), true);
    assert.deepEqual(seen, ['a1', 'once1', 'd1:true', 'a2', 'd2:true']);
    assert.deepEqual(warnings, ['a "tick" listener threw: boom', 'a "tick" listener threw: boom']);
    emitter.removeAllListeners();
    assert.equal(emitContained<Events, 'tick'>(emitter, 'tick', [3], logger), false);
  });
});
