import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteQueue } from '../../../lib/codecs/byte-queue';
import { randomChunks, randomInt, seededRandom } from '../../support/random';

describe('ByteQueue', () => {
  it('peeks and takes across chunk boundaries', () => {
    const q = new ByteQueue();
    q.push(Buffer.from('abc'));
    q.push(new Uint8Array(Buffer.from('de')));
    q.push(Buffer.alloc(0));
    q.push(Buffer.from('fgh'));
    assert.equal(q.length, 8);
    assert.equal(q.peek(5).toString(), 'abcde');
    assert.equal(q.peek(100).toString(), 'abcdefgh', 'a peek past the end gives what there is');
    assert.equal(q.take(2).toString(), 'ab');
    assert.equal(q.take(0).length, 0);
    assert.equal(q.take(4).toString(), 'cdef');
    assert.equal(q.length, 2);
    assert.equal(q.take(2).toString(), 'gh');
    assert.equal(q.length, 0);
    assert.equal(q.peek(4).length, 0);
  });

  it('hands out a view when the bytes lie in one chunk, a copy when they span two', () => {
    const q = new ByteQueue();
    const first = Buffer.from('0123');
    q.push(first);
    q.push(Buffer.from('45'));
    const view = q.take(2);
    first[0] = 0x78;
    assert.equal(view.toString(), 'x1', 'a view shares the pushed memory');
    const copy = q.take(3);
    first[2] = 0x79;
    assert.equal(copy.toString(), '234');
  });

  it('refuses to take more than it holds', () => {
    const q = new ByteQueue();
    q.push(Buffer.from('ab'));
    assert.throws(() => q.take(3), RangeError);
    assert.throws(() => q.take(-1), RangeError);
    assert.equal(q.length, 2, 'a refused take changes nothing');
    q.clear();
    assert.equal(q.length, 0);
    assert.throws(() => q.take(1), RangeError);
  });

  it('gives back exactly what was pushed, for thousands of tiny chunks taken in random sizes', () => {
    const random = seededRandom(99);
    const bytes = Buffer.from(Array.from({ length: 20000 }, () => randomInt(random, 256)));
    const q = new ByteQueue();
    for (const piece of randomChunks(bytes, random, 3)) q.push(piece);
    const out: Buffer[] = [];
    while (q.length > 0) out.push(q.take(Math.min(q.length, 1 + randomInt(random, 7))));
    assert.equal(Buffer.concat(out).toString('hex'), bytes.toString('hex'));
  });
});
