// Unit tests of the pure parts of "Apply changes" (static/topolab/apply-changes.js), run by
// tests/e2e/test_apply_changes.py (node --test).
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {countChanges, groupsOf, indicatorText, itemParts, linkAddresses} from '../../../static/topolab/apply-changes.js';

const empty = () => ({nodes_created: [], nodes_removed: [], nodes_restarted: [], links_added: [], links_removed: [],
  links_changed: [], addresses_added: [], addresses_removed: [], routes_added: [], routes_removed: [], sysctls: [],
  files: [], left: []});

test('it counts every change, but not the nodes left for their start', () => {
  const c = {...empty(), nodes_created: ['c3'], links_added: ['c3:eth0 - r1:eth2'], addresses_added: ['a', 'b'],
    nodes_restarted: [{node: 'c2', why: ['env changed']}], left: ['c4']};
  assert.equal(countChanges(c), 5);
  assert.equal(countChanges(empty()), 0);
  assert.equal(countChanges(undefined), 0);
});

test('it says how many changes are not applied, or that the lab runs as drawn', () => {
  assert.equal(indicatorText({nothing_to_do: true, changes: empty()}), 'running as drawn');
  assert.equal(indicatorText({nothing_to_do: false, changes: {...empty(), nodes_created: ['c3']}}), '1 change not applied');
  assert.equal(indicatorText({nothing_to_do: false, changes: {...empty(), routes_added: ['x', 'y', 'z']}}), '3 changes not applied');
  // Steps without a listed change (a kind's own) still count as one.
  assert.equal(indicatorText({nothing_to_do: false, changes: empty()}), '1 change not applied');
});

test('restarted nodes say why and changed links what; empty groups are left out, in order', () => {
  assert.deepEqual(itemParts({node: 'c2', why: ['env changed', 'image a → b']}), {main: 'c2', detail: 'env changed, image a → b'});
  assert.deepEqual(itemParts({link: 'c2:eth0 - r1:eth1', what: ['mtu 1400']}), {main: 'c2:eth0 - r1:eth1', detail: 'mtu 1400'});
  assert.deepEqual(itemParts('c3'), {main: 'c3', detail: ''});
  const groups = groupsOf({...empty(), left: ['c4'], links_added: ['l'], nodes_created: ['c3']});
  assert.deepEqual(groups.map((g) => g.key), ['nodes_created', 'links_added', 'left']);
  assert.equal(groups[0].title, 'Nodes created');
});

test('a link added says its addresses, from the document', () => {
  const doc = {links: [{endpoints: [{node: 'c3', interface: 'eth0', addresses: ['192.168.12.2/24']},
    {node: 'r1', interface: 'eth2', addresses: ['192.168.12.1/24', '2001:db8::1/64']}]},
  {endpoints: [{node: 's1', interface: 'p1'}, {node: 'r1', interface: 'eth3'}]}]};
  assert.equal(linkAddresses(doc, 'c3:eth0 - r1:eth2'), 'c3 192.168.12.2/24 · r1 192.168.12.1/24, 2001:db8::1/64');
  assert.equal(linkAddresses(doc, 's1:p1 - r1:eth3'), '');
  assert.equal(linkAddresses(doc, 'x:eth0 - y:eth0'), '');
});
