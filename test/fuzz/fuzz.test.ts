/**
 * The fuzz suite as part of `npm test`: every target of THE table gets its regression cases
 * (every input that ever crashed or stalled it) and a fixed, seeded batch of mutated inputs,
 * small enough for CI. `npm run fuzz` runs the same table with a million cases per target.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fuzz, regressionCases } from '../support/fuzz';
import { FUZZ_TARGETS } from './targets';

const CASES = 10_000;
/** Generous: a stall found by `npm run fuzz` is orders of magnitude slower than any case. */
const STALL_MS = 500;

describe('fuzzing every codec', () => {
  it('has a target for each codec that reads untrusted bytes', () => {
    assert.deepEqual(
      FUZZ_TARGETS.map((t) => t.name),
      ['dmap', 'tlv8', 'varint', 'mrp-frame', 'mrp-message', 'dns', 'dns-txt', 'image', 'credentials', 'bplist', 'opack', 'xml-plist', 'airplay-info-txt', 'http', 'hap-blocks', 'companion-frame', 'data-stream', 'companion-message', 'rti'],
    );
    assert.ok(regressionCases('dns').length >= 2, 'the D1 packets are regression cases');
  });

  for (const target of FUZZ_TARGETS) {
    it(`${target.name}: ${target.what}: regression cases and ${CASES} mutated inputs, refused only with typed errors`, () => {
      const fixed = regressionCases(target.name).map((c) => c.input);
      const report = fuzz(target, { cases: CASES, seed: 0x7a7a, stallMs: STALL_MS, fixed });
      assert.equal(report.cases, CASES + fixed.length);
      assert.deepEqual(
        report.failures.map((f) => `${f.kind}: ${f.detail} (input ${f.input.toString('hex').slice(0, 80)})`),
        [],
      );
    });
  }
});
