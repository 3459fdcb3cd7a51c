// Unit tests of IPv6 "Assign addresses" (static/topolab/document-model.js) and of Compute routes' pure parts
// (static/topolab/compute-routes.js), run by tests/e2e/test_compute_routes_editor.py (node --test), which hands
// over the kinds of topology/kinds.py as the editor page serves them.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as m from '../../../static/topolab/document-model.js';
import {addRoutes, addedSentence, assignedSentence, checkVia, familyOf} from '../../../static/topolab/compute-routes.js';

if (!process.env.TOPOLAB_KINDS) {
  throw new Error('TOPOLAB_KINDS is not set: run these tests through tests/e2e/test_compute_routes_editor.py');
}
const served = JSON.parse(process.env.TOPOLAB_KINDS);
m.setKinds(served.kinds, served.defaultKind);

// c1 -- r1 -- c2, and r1 -- r2.
const reference = () => {
  let d = m.emptyDocument('t');
  for (const [kind, name] of [['host', 'c1'], ['router', 'r1'], ['host', 'c2'], ['router', 'r2']]) d = m.addNode(d, {kind, name}).doc;
  for (const [a, b] of [['c1', 'r1'], ['c2', 'r1'], ['r1', 'r2']]) d = m.addLink(d, a, b).doc;
  return d;
};
const addresses = (doc) => doc.links.map((l) => l.endpoints.map((e) => e.addresses));

test('it reads and writes IPv6 addresses in their shortest form', () => {
  assert.equal(m.parseIp6('fd00:0:1::5'), 0xfd000000000100000000000000000005n);
  assert.equal(m.parseIp6('::ffff:10.0.0.1'), 0xffff0a000001n);
  assert.equal(m.parseIp6('::'), 0n);
  for (const bad of ['fd00::1::2', '1:2:3:4:5:6:7:8:9', 'fd00:12345::', '10.0.0.1', 'fd00:g::', '1:2:3:4:5:6:7']) {
    assert.equal(m.parseIp6(bad), null, bad);
  }
  assert.equal(m.ip6ToString(0xfd000000000100000000000000000005n), 'fd00:0:1::5');
  assert.equal(m.ip6ToString(0n), '::');
  assert.equal(m.ip6ToString(1n), '::1');
  assert.equal(m.ip6ToString(0x20010db8000000000001000000000001n), '2001:db8::1:0:0:1'); // the first of two equal runs
  assert.equal(m.ip6ToString(0x20010db8000100010001000100010001n), '2001:db8:1:1:1:1:1:1'); // one zero group: not '::'
  assert.deepEqual(m.parseCidr6('FD00::1/64'), {ip: 0xfd000000000000000000000000000001n, prefix: 64});
  assert.equal(m.parseCidr6('fd00::1/129'), null);
  assert.equal(m.parseCidr6('fd00::1'), null);
});

test('IPv6 alone: a /64 per router link and per host link, routers ::1, hosts a default route; IPv4 untouched', () => {
  const {doc, problems, addressed, leftAlone, pools, routes} = m.assignAddresses(reference(), m.DEFAULT_POOLS, [6]);
  assert.deepEqual(problems, []);
  assert.deepEqual(addresses(doc), [
    [['fd00:0:2::2/64'], ['fd00:0:2::1/64']],
    [['fd00:0:2:1::2/64'], ['fd00:0:2:1::1/64']],
    [['fd00:0:1::1/64'], ['fd00:0:1::2/64']],
  ]);
  assert.deepEqual(doc.nodes[0].routes, [{to: 'default', via: 'fd00:0:2::1'}]);
  assert.deepEqual(doc.nodes[2].routes, [{to: 'default', via: 'fd00:0:2:1::1'}]);
  assert.equal(doc.nodes[1].routes, undefined); // a router gets no default route
  assert.deepEqual({addressed, leftAlone, pools, routes}, {addressed: 6, leftAlone: 0, pools: ['fd00:0:2::/48', 'fd00:0:1::/48'], routes: 2});
  for (const ends of addresses(doc)) for (const [a] of ends) assert.equal(m.checkInterfaceAddress(a), '', a);
});

test('both families: each interface gets one of each; a second run leaves everything alone and says so', () => {
  const first = m.assignAddresses(reference(), m.DEFAULT_POOLS, [4, 6]);
  assert.deepEqual(addresses(first.doc)[0], [['192.168.0.2/24', 'fd00:0:2::2/64'], ['192.168.0.1/24', 'fd00:0:2::1/64']]);
  assert.deepEqual(addresses(first.doc)[2], [['10.0.0.0/31', 'fd00:0:1::1/64'], ['10.0.0.1/31', 'fd00:0:1::2/64']]);
  assert.deepEqual(first.doc.nodes[0].routes, [{to: 'default', via: '192.168.0.1'}, {to: 'default', via: 'fd00:0:2::1'}]);
  assert.equal(first.addressed, 6);
  assert.equal(first.filled, 12 + 4); // 12 addresses, 4 default routes
  assert.equal(assignedSentence(first),
    '6 interfaces addressed from 192.168.0.0/16, 10.0.0.0/16, fd00:0:2::/48 and fd00:0:1::/48, 4 default routes added to hosts.');
  const again = m.assignAddresses(first.doc, m.DEFAULT_POOLS, [4, 6]);
  assert.equal(again.filled, 0);
  assert.equal(again.leftAlone, 6);
  assert.equal(assignedSentence(again), 'no interface addressed; 6 left alone: they had addresses.');
});

test('IPv6 after IPv4: the IPv4 addresses and routes stay, IPv6 is added beside them', () => {
  const v4 = m.assignAddresses(reference()).doc;
  const frozen = JSON.stringify(v4);
  const {doc} = m.assignAddresses(v4, m.DEFAULT_POOLS, [6]);
  assert.equal(JSON.stringify(v4), frozen); // the input is never changed
  assert.deepEqual(addresses(doc)[1], [['192.168.1.2/24', 'fd00:0:2:1::2/64'], ['192.168.1.1/24', 'fd00:0:2:1::1/64']]);
  assert.deepEqual(doc.nodes[2].routes, [{to: 'default', via: '192.168.1.1'}, {to: 'default', via: 'fd00:0:2:1::1'}]);
});

test('IPv6 keeps what is set: a LAN\'s /64 is reused, a subnet in use skipped, a host\'s own default route kept', () => {
  let d = m.emptyDocument('lan');
  for (const [kind, name] of [['switch', 's1'], ['host', 'a'], ['host', 'b'], ['router', 'gw'], ['host', 'c']]) d = m.addNode(d, {kind, name}).doc;
  for (const n of ['a', 'b', 'gw']) d = m.addLink(d, n, 's1').doc;
  d = m.addLink(d, 'c', 'gw').doc;
  d = m.updateLink(d, 0, (l) => { l.endpoints[0].addresses = ['fd00:0:2::9/64', 'fe80::9/64']; return l; });
  d = m.updateNode(d, 'a', (n) => ({...n, routes: [{to: '::/0', via: 'fd00:0:2::99'}]}));
  const {doc, leftAlone} = m.assignAddresses(d, m.DEFAULT_POOLS, [6]);
  assert.deepEqual(doc.links.map((l) => l.endpoints[0].addresses), [
    ['fd00:0:2::9/64', 'fe80::9/64'], ['fd00:0:2::2/64'], ['fd00:0:2::1/64'], ['fd00:0:2:1::2/64']]); // c's link: the next /64
  assert.equal(doc.links[0].endpoints[1].addresses, undefined); // a switch port has none
  assert.deepEqual(doc.nodes[1].routes, [{to: '::/0', via: 'fd00:0:2::99'}]); // its own, kept
  assert.deepEqual(doc.nodes[2].routes, [{to: 'default', via: 'fd00:0:2::1'}]);
  assert.equal(leftAlone, 1);
  // A link-local address alone is no IPv6 address to keep: the interface is addressed.
  let e = reference();
  e = m.updateLink(e, 0, (l) => { l.endpoints[0].addresses = ['fe80::1/64']; return l; });
  assert.deepEqual(m.assignAddresses(e, m.DEFAULT_POOLS, [6]).doc.links[0].endpoints[0].addresses, ['fe80::1/64', 'fd00:0:2::2/64']);
});

test('a bad IPv6 pool is reported with its words, and nothing changes', () => {
  const d = reference();
  for (const pool of ['fd00::/129', 'nonsense', '10.0.0.0/16', 'fd00::/80']) {
    const r = m.assignAddresses(d, {...m.DEFAULT_POOLS, lan6: pool}, [6]);
    assert.equal(r.doc, d);
    assert.equal(r.filled, 0);
    assert.deepEqual(r.problems, [`'${pool}' is not an IPv6 pool that holds /64s`]);
  }
  // A pool of one /64 runs out at the second link.
  const small = m.assignAddresses(d, {...m.DEFAULT_POOLS, lan6: 'fd00:9::/64'}, [6]);
  assert.deepEqual(small.problems, ['the IPv6 LAN pool is exhausted']);
  assert.deepEqual(small.doc.links[0].endpoints[0].addresses, ['fd00:9::2/64']);
});

test('addRoutes adds after the node\'s own routes, once per prefix and family, and never changes its input', () => {
  let d = m.assignAddresses(reference(), m.DEFAULT_POOLS, [4, 6]).doc;
  d = m.updateNode(d, 'r2', (n) => ({...n, routes: [{to: '192.168.0.0/24', via: '10.0.0.0'}]}));
  const frozen = JSON.stringify(d);
  const {doc, added, nodes} = addRoutes(d, [
    {node: 'r2', to: '192.168.0.0/24', via: '10.0.0.0'}, // r2 has it already (by hand)
    {node: 'r2', to: '192.168.1.0/24', via: ' 10.0.0.0 '},
    {node: 'r2', to: 'fd00:0:2::/64', via: 'fd00:0:1::1'},
    {node: 'c1', to: 'default', via: 'fd00:0:2::1'}, // c1 has an IPv6 default route already
    {node: 'nobody', to: '10.9.0.0/16', via: '10.0.0.0'},
  ]);
  assert.equal(JSON.stringify(d), frozen);
  assert.deepEqual(doc.nodes[3].routes, [{to: '192.168.0.0/24', via: '10.0.0.0'}, {to: '192.168.1.0/24', via: '10.0.0.0'},
    {to: 'fd00:0:2::/64', via: 'fd00:0:1::1'}]);
  assert.equal(added, 2);
  assert.deepEqual(nodes, ['r2']);
  assert.equal(addedSentence(12, 5), '12 routes added to 5 nodes.');
  assert.equal(addedSentence(1, 1), '1 route added to 1 node.');
  // 'default' via IPv4 and 'default' via IPv6 are two routes: one does not stand for the other.
  const e = m.updateNode(reference(), 'c1', (n) => ({...n, routes: [{to: 'default', via: '192.168.0.1'}]}));
  assert.equal(addRoutes(e, [{node: 'c1', to: 'default', via: 'fd00:0:2::1'}]).added, 1);
  assert.equal(familyOf({to: 'default', via: 'fd00::1'}), 6);
  assert.equal(familyOf({to: '10.0.0.0/8', via: '10.0.0.1'}), 4);
});

test('checkVia takes an address of the route\'s family on one of the node\'s subnets', () => {
  const d = m.assignAddresses(reference(), m.DEFAULT_POOLS, [4, 6]).doc;
  const v4 = {node: 'r2', to: '192.168.0.0/24', via: '10.0.0.0'};
  const v6 = {node: 'r2', to: 'fd00:0:2::/64', via: 'fd00:0:1::1'};
  assert.equal(checkVia(d, v4, '10.0.0.0'), '');
  assert.equal(checkVia(d, v4, ' 10.0.0.0 '), '');
  assert.equal(checkVia(d, v6, 'fd00:0:1::1'), '');
  assert.equal(checkVia(d, v6, 'FD00:0:1:0::1'), '');
  assert.match(checkVia(d, v4, ''), /needs a via/);
  assert.match(checkVia(d, v4, '10.0.0.256'), /not an IPv4 address/);
  assert.match(checkVia(d, v4, '10.0.0.0/31'), /not an IPv4 address/);
  assert.match(checkVia(d, v4, 'fd00:0:1::1'), /not an IPv4 address \(the prefix is IPv4\)/);
  assert.match(checkVia(d, v6, '10.0.0.0'), /not an IPv6 address/);
  assert.match(checkVia(d, v6, 'fd00:0:1::1/64'), /not an IPv6 address/);
  assert.equal(checkVia(d, v4, '192.168.0.1'), '192.168.0.1 is in no subnet of r2: the next router must be on one of its links');
  assert.match(checkVia(d, v6, 'fd00:0:2::1'), /in no subnet of r2/);
  assert.equal(checkVia(d, {node: 'c1', to: 'default', via: 'fd00:0:2::1'}, 'fd00:0:2::1'), '');
});
