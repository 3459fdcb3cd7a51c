// Unit tests of link-live.js's pure parts (the canvas's impairment label, the document change a
// live answer makes, the fields' checks), run by tests/e2e/test_live_links.py (node --test).
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {impairmentLabel, linkLabel, findLink, withLinkChange, checkValue, IMPAIRMENTS} from '../../../static/topolab/link-live.js';

const doc = () => ({name: 't', nodes: [{name: 'c1'}, {name: 'r1'}, {name: 'c2'}], links: [
  {endpoints: [{node: 'c1', interface: 'eth0'}, {node: 'r1', interface: 'eth0'}]},
  {endpoints: [{node: 'c2', interface: 'eth0'}, {node: 'r1', interface: 'eth1'}], mtu: 1400},
]});

test('the label says the impairment in short words, in a fixed order', () => {
  assert.equal(impairmentLabel({loss_percent: 50, rate_kbit: 1000}), '50% loss · 1 Mbit/s');
  assert.equal(impairmentLabel({rate_kbit: 512}), '512 kbit/s');
  assert.equal(impairmentLabel({rate_kbit: 2500}), '2.5 Mbit/s');
  assert.equal(impairmentLabel({rate_kbit: 3000000}), '3 Gbit/s');
  assert.equal(impairmentLabel({delay_ms: 20, jitter_ms: 5, duplicate_percent: 1, corrupt_percent: 0.5}), '20±5 ms · 1% dup · 0.5% corrupt');
  assert.equal(impairmentLabel({delay_ms: 20}), '20 ms');
  assert.equal(impairmentLabel({loss_percent: 0}), '');
  assert.equal(impairmentLabel(null), '');
  assert.equal(impairmentLabel({}), '');
});

test('a down link says so in its label, with its impairment', () => {
  assert.equal(linkLabel({state: 'down'}), 'down');
  assert.equal(linkLabel({state: 'down', impairment: {loss_percent: 100}}), 'down · 100% loss');
  assert.equal(linkLabel({state: 'up', impairment: {loss_percent: 100}}), '100% loss');
  assert.equal(linkLabel({}), '');
});

test('a link is found by either end', () => {
  assert.equal(findLink(doc(), 'c2:eth0'), 1);
  assert.equal(findLink(doc(), 'r1:eth1'), 1);
  assert.equal(findLink(doc(), 'r1:eth0'), 0);
  assert.equal(findLink(doc(), 'r1:eth9'), -1);
  assert.equal(findLink({}, 'r1:eth0'), -1);
});

test("the server's change goes into a copy of the document, in the format's shape", () => {
  const before = doc();
  const down = withLinkChange(before, 'r1:eth1', {state: 'down', impairment: {loss_percent: 50, rate_kbit: null}});
  assert.equal(before.links[1].state, undefined, 'the original is untouched');
  assert.deepEqual(down.links[1], {...before.links[1], state: 'down', impairment: {loss_percent: 50}});
  assert.deepEqual(down.links[0], before.links[0]);
  // Up is the default, and a cleared impairment is no key at all.
  const up = withLinkChange(down, 'c2:eth0', {state: 'up', impairment: null});
  assert.deepEqual(up.links[1], before.links[1]);
  // Only what the change names changes.
  const onlyState = withLinkChange(down, 'c2:eth0', {state: 'up'});
  assert.deepEqual(onlyState.links[1].impairment, {loss_percent: 50});
  assert.equal(withLinkChange(before, 'x:eth0', {state: 'down'}), before);
});

test("each field is checked by the format's bounds", () => {
  const f = Object.fromEntries(IMPAIRMENTS.map((x) => [x.key, x]));
  assert.deepEqual(IMPAIRMENTS.map((x) => x.key), ['delay_ms', 'jitter_ms', 'loss_percent', 'duplicate_percent', 'corrupt_percent', 'rate_kbit']);
  assert.equal(checkValue(f.loss_percent, ''), '');
  assert.equal(checkValue(f.loss_percent, '50'), '');
  assert.equal(checkValue(f.loss_percent, '101'), 'at most 100');
  assert.equal(checkValue(f.loss_percent, '-1'), 'a number, 0 or more');
  assert.equal(checkValue(f.delay_ms, 'ten'), 'a number, 0 or more');
  assert.equal(checkValue(f.rate_kbit, '1.5'), 'a whole number');
  assert.equal(checkValue(f.rate_kbit, '0'), 'at least 1');
  assert.equal(checkValue(f.rate_kbit, '1000'), '');
});
