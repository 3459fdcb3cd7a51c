// Unit tests of the pure parts of "Ping all"'s matrix (static/topolab/ping-matrix.js), run by
// tests/e2e/test_ping_matrix.py (node --test).
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {formatRtt, groups, tally} from '../../../static/topolab/ping-matrix.js';

const targets = [
  {node: 'c1', interface: 'eth0', address: '192.168.10.2'},
  {node: 'r1', interface: 'eth0', address: '192.168.10.1'},
  {node: 'r1', interface: 'eth1', address: '192.168.11.1'},
  {node: 'c2', interface: 'eth0', address: '192.168.11.2'},
];

test('it writes round-trip times in a few characters', () => {
  assert.equal(formatRtt(0.091), '0.09 ms');
  assert.equal(formatRtt(1.25), '1.3 ms');
  assert.equal(formatRtt(12.4), '12 ms');
  assert.equal(formatRtt(null), '');
});

test('it groups the addresses by node, in their order', () => {
  assert.deepEqual(groups(targets).map((g) => [g.node, g.targets.length]), [['c1', 1], ['r1', 2], ['c2', 1]]);
  assert.deepEqual(groups([]), []);
});

test('it counts what was reached, the holes, and what was not run, apart', () => {
  const ok = {ok: true, rtt_ms: 0.1, error: ''};
  const answer = {
    sources: ['c1', 'c2'], targets,
    results: {
      c1: {'192.168.10.1': ok, '192.168.11.1': {ok: false, rtt_ms: null, error: 'Network is unreachable'},
           '192.168.11.2': {ok: false, rtt_ms: null, error: 'not run: ping all reached its deadline'}},
      c2: {'192.168.10.2': ok, '192.168.10.1': ok, '192.168.11.1': ok},
    },
  };
  const {reached, total, skipped, holes} = tally(answer);
  assert.deepEqual([reached, total, skipped], [4, 6, 1]);
  assert.deepEqual(holes.map((h) => [h.source, h.target.address, h.error]), [['c1', '192.168.11.1', 'Network is unreachable']]);
});
