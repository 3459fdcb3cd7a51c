// Unit tests of the editor's pure document functions, run by tests/e2e/test_document_model.py
// (node --test), which hands over the kinds of topology/kinds.py as the editor page serves them.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as m from '../../../static/topolab/document-model.js';

// The registry or nothing: these tests have no kinds of their own to fall back on.
if (!process.env.TOPOLAB_KINDS) {
  throw new Error('TOPOLAB_KINDS is not set: run these tests through tests/e2e/test_document_model.py');
}
const served = JSON.parse(process.env.TOPOLAB_KINDS);
m.setKinds(served.kinds, served.defaultKind);

const reference = () => {
  let d = m.emptyDocument('t');
  d = m.addNode(d, {kind: 'host', name: 'c1'}).doc;
  d = m.addNode(d, {kind: 'router'}).doc;
  d = m.addNode(d, {kind: 'host', name: 'c2'}).doc;
  d = m.addLink(d, 'c1', 'r1').doc;
  return m.addLink(d, 'c2', 'r1').doc;
};

test('it proposes the next free ethN and never changes its input', () => {
  const d = reference();
  const frozen = JSON.stringify(d);
  assert.equal(m.nextFreeInterface(d, 'r1'), 'eth2');
  const {doc} = m.addLink(d, 'c1', 'c2');
  assert.deepEqual(doc.links[2].endpoints, [{node: 'c1', interface: 'eth1'}, {node: 'c2', interface: 'eth1'}]);
  assert.equal(JSON.stringify(d), frozen);
  assert.equal(m.addLink(d, 'c1', 'c1').index, -1);
});

test('it names new nodes by kind', () => {
  assert.equal(m.addNode(reference(), {kind: 'router'}).name, 'r2');
  assert.equal(m.addNode(reference(), {kind: 'switch'}).name, 's1');
});

test('it removes a node with its links, and renames a node in its links', () => {
  const d = m.removeElements(reference(), {nodes: ['c2']});
  assert.equal(d.nodes.length, 2);
  assert.equal(d.links.length, 1);
  const r = m.renameNode(reference(), 'r1', 'gw');
  assert.equal(r.links[1].endpoints[1].node, 'gw');
});

test('it pastes copies under free names without addresses', () => {
  let d = reference();
  d = m.updateLink(d, 0, (l) => { l.endpoints[0].addresses = ['10.0.0.1/24']; return l; });
  const {doc, names} = m.pasteFragment(d, m.copyFragment(d, ['c1', 'r1']));
  assert.deepEqual(names, ['c3', 'r2']);
  assert.deepEqual(doc.links[2].endpoints, [{node: 'c3', interface: 'eth0'}, {node: 'r2', interface: 'eth0'}]);
});

test('it assigns /24s to host links, /31s between routers, default routes, and keeps what is set', () => {
  let d = reference();
  d = m.addNode(d, {kind: 'router'}).doc;
  d = m.addLink(d, 'r1', 'r2').doc;
  d = m.updateLink(d, 1, (l) => { l.endpoints[0].addresses = ['172.16.5.9/24']; l.endpoints[1].addresses = ['172.16.5.1/24']; return l; });
  const {doc, problems} = m.assignAddresses(d, {p2p: '10.0.0.0/16', lan: '192.168.0.0/16'});
  assert.deepEqual(problems, []);
  assert.deepEqual(doc.links[0].endpoints.map((e) => e.addresses), [['192.168.0.2/24'], ['192.168.0.1/24']]);
  assert.deepEqual(doc.links[1].endpoints.map((e) => e.addresses), [['172.16.5.9/24'], ['172.16.5.1/24']]);
  assert.deepEqual(doc.links[2].endpoints.map((e) => e.addresses), [['10.0.0.0/31'], ['10.0.0.1/31']]);
  assert.deepEqual(doc.nodes[0].routes, [{to: 'default', via: '192.168.0.1'}]);
  assert.deepEqual(doc.nodes[2].routes, [{to: 'default', via: '172.16.5.1'}]);
  // A second run has nothing left to fill.
  assert.equal(m.assignAddresses(doc).filled, 0);
});

test('it gives a switch LAN one /24, routers first', () => {
  let d = m.emptyDocument('lan');
  for (const [kind, name] of [['switch', 's1'], ['host', 'a'], ['host', 'b'], ['router', 'gw']]) d = m.addNode(d, {kind, name}).doc;
  for (const n of ['a', 'b', 'gw']) d = m.addLink(d, n, 's1').doc;
  const {doc} = m.assignAddresses(d);
  assert.deepEqual(doc.links.map((l) => l.endpoints[0].addresses), [['192.168.0.2/24'], ['192.168.0.3/24'], ['192.168.0.1/24']]);
  assert.equal(doc.links[0].endpoints[1].addresses, undefined);
  assert.deepEqual(doc.nodes[1].routes, [{to: 'default', via: '192.168.0.1'}]);
});

test('it skips subnets already in use and reports a bad pool', () => {
  let d = reference();
  d = m.updateLink(d, 1, (l) => { l.endpoints[0].addresses = ['192.168.0.7/24']; return l; });
  assert.deepEqual(m.assignAddresses(d).doc.links[0].endpoints[0].addresses, ['192.168.1.2/24']);
  assert.match(m.assignAddresses(d, {p2p: 'nonsense', lan: '10.0.0.0/8'}).problems[0], /nonsense/);
});

test('it checks interface addresses by the server rules', () => {
  assert.equal(m.checkInterfaceAddress('10.0.0.1/24'), '');
  assert.match(m.checkInterfaceAddress('10.0.0.0/24'), /network address/);
  assert.match(m.checkInterfaceAddress('10.0.0.255/24'), /broadcast/);
  assert.equal(m.checkInterfaceAddress('10.0.0.0/31'), '');
  assert.match(m.checkInterfaceAddress('10.0.0.1'), /prefix length/);
  assert.equal(m.checkInterfaceAddress('2001:db8::1/64'), '');
});

test('it maps error paths to elements and words', () => {
  assert.deepEqual(m.parsePath('links[1].endpoints[0].addresses[0]'), {kind: 'link', index: 1, rest: 'endpoints[0].addresses[0]'});
  assert.deepEqual(m.parsePath('nodes[2].name'), {kind: 'node', index: 2, rest: 'name'});
  assert.equal(m.parsePath('name').kind, 'document');
  assert.equal(m.describePath(reference(), 'links[1].endpoints[0].addresses[0]'), 'c2 eth0 address 1');
});

test('it refuses to edit before it is given the kinds', async () => {
  // A second instance of the module (another URL), never given any.
  const bare = await import('../../../static/topolab/document-model.js?without-kinds');
  assert.throws(() => bare.addNode(bare.emptyDocument('t'), {name: 'a'}), /setKinds/);
});

test('it reads every kind fact from the registry it was given', () => {
  for (const k of served.kinds) assert.equal(m.addNode(m.emptyDocument('t'), {kind: k.name}).name, `${k.prefix}1`);
  const plain = m.addNode(m.emptyDocument('t'), {}).doc.nodes[0];
  assert.equal(plain.kind, served.defaultKind);
  assert.equal(m.kindOf({nodes: [{name: 'a'}]}, 'a'), served.defaultKind);
  assert.deepEqual(m.kindNames(), served.kinds.map((k) => k.name));
});

test('a kind added to the registry is named, addressed and routed by its fields alone', () => {
  const gateway = {...served.kinds.find((k) => k.forwards), name: 'gateway', prefix: 'gw', bridge: null};
  m.setKinds([...served.kinds, gateway], served.defaultKind);
  try {
    let d = m.emptyDocument('t');
    d = m.addNode(d, {kind: served.defaultKind, name: 'c1'}).doc;
    const added = m.addNode(d, {kind: 'gateway'});
    assert.equal(added.name, 'gw1');
    d = m.addLink(added.doc, 'c1', 'gw1').doc;
    const {doc} = m.assignAddresses(d);
    // It forwards: the lowest address of the LAN, and the host's gateway.
    assert.deepEqual(doc.links[0].endpoints.map((e) => e.addresses), [['192.168.0.2/24'], ['192.168.0.1/24']]);
    assert.deepEqual(doc.nodes[0].routes, [{to: 'default', via: '192.168.0.1'}]);
    assert.equal(doc.nodes[1].routes, undefined);
  } finally {
    m.setKinds(served.kinds, served.defaultKind);
  }
});

test('a kind the registry does not know is neither routed nor bridged nor given routes', () => {
  let d = m.emptyDocument('t');
  d = m.addNode(d, {kind: 'mystery', name: 'x'}).doc;
  d = m.addNode(d, {kind: served.defaultKind, name: 'c1'}).doc;
  assert.equal(d.nodes[0].name, 'x');
  d = m.addLink(d, 'x', 'c1').doc;
  const {doc} = m.assignAddresses(d);
  assert.deepEqual(doc.links[0].endpoints.map((e) => e.addresses), [['192.168.0.1/24'], ['192.168.0.2/24']]);
  assert.equal(doc.nodes[0].routes, undefined);
  assert.equal(doc.nodes[1].routes, undefined); // no node forwards: no gateway
});
