// Unit tests of the automatic layouts' pure parts (static/topolab/layout.js): the shape read from a graph,
// the constraints handed to fCoSE, placing new nodes near their neighbours, the canvas's free area.
// Run by tests/e2e/test_layouts.py (node --test); the drawings themselves are tested there, in a browser.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {arrange, fanPendants, fcoseOptions, freeArea, placeNear, recognise, ringPositions, separate} from '../../../static/topolab/layout.js';

const graph = (edges, extra = []) => {
  const ids = [...new Set([...edges.flat(), ...extra])];
  return {nodes: ids.map((id) => ({id, width: 40, label: 30})), edges};
};
const cycle = (names) => names.map((n, i) => [n, names[(i + 1) % names.length]]);

test('a cycle is a ring, in ring order, hosts hanging off it', () => {
  const ring = ['a', 'd', 'b', 'e', 'c'];
  const plan = recognise(graph([...cycle(ring), ['h1', 'b'], ['h2', 'b']]));
  assert.equal(plan.shape, 'ring');
  const i = plan.ring.indexOf('a');
  const turned = [...plan.ring.slice(i), ...plan.ring.slice(0, i)];
  assert.ok([ring, ['a', ...ring.slice(1).reverse()]].some((r) => JSON.stringify(r) === JSON.stringify(turned)), plan.ring);
  assert.deepEqual(plan.pendants, {h1: 'b', h2: 'b'});
  // Links counted once (two links between the same nodes), self-links ignored.
  assert.equal(recognise(graph([...cycle(['a', 'b', 'c']), ['a', 'b'], ['c', 'c']])).shape, 'ring');
});

test('a ring is on a circle, clockwise from the top in ring order, with more room for a node with hosts', () => {
  const plan = {shape: 'ring', ring: ['a', 'b', 'c', 'd'], pendants: {h1: 'c', h2: 'c', h3: 'c'}};
  const pos = new Map(ringPositions(plan));
  const r = [...pos.values()].map((p) => Math.hypot(p.x, p.y));
  assert.ok(Math.max(...r) - Math.min(...r) <= 1, r);
  assert.ok(pos.get('a').y < 0 && Math.abs(pos.get('a').x) <= 1, pos.get('a')); // on top
  assert.ok(pos.get('b').x > 0, 'clockwise (y grows downwards)');
  const angle = (n) => Math.atan2(pos.get(n).y, pos.get(n).x);
  const gap = (x, y) => (angle(y) - angle(x) + 2 * Math.PI) % (2 * Math.PI);
  assert.ok(gap('b', 'c') > gap('a', 'b') && gap('c', 'd') > gap('d', 'a'), 'c, with its hosts, has more of the circle');
  const opts = fcoseOptions(graph([...cycle(plan.ring), ['h1', 'c'], ['h2', 'c'], ['h3', 'c']]), plan);
  assert.deepEqual(opts.fixedNodeConstraint.map((f) => f.nodeId), ['a', 'b', 'c', 'd']);
  assert.equal(opts.name, 'fcose');
  assert.equal(opts.fit, false);
  assert.equal(opts.animate, false);
});

test('a tree has its centre as root and its levels in the order of their parents', () => {
  // r with two routers, each with hosts; listed leaves first, so that the order of the list does not give it away.
  const plan = recognise(graph([['h1', 'a'], ['h2', 'a'], ['h3', 'b'], ['a', 'r'], ['b', 'r'], ['h4', 'b']]));
  assert.equal(plan.shape, 'tree');
  assert.deepEqual(plan.levels, [['r'], ['a', 'b'], ['h1', 'h2', 'h3', 'h4']]);
  const opts = fcoseOptions(graph([['h1', 'a'], ['h2', 'a'], ['h3', 'b'], ['a', 'r'], ['b', 'r'], ['h4', 'b']]), plan);
  assert.deepEqual(opts.alignmentConstraint.horizontal, [['a', 'b'], ['h1', 'h2', 'h3', 'h4']]);
  const rel = opts.relativePlacementConstraint;
  assert.deepEqual(rel.filter((c) => c.top).map((c) => [c.top, c.bottom]), [['r', 'a'], ['a', 'h1']]);
  const row = [['a', 'b'], ['h1', 'h2'], ['h2', 'h3'], ['h3', 'h4']];
  assert.deepEqual(rel.filter((c) => c.left).slice(0, 4).map((c) => [c.left, c.right]), row);
  assert.ok(rel.filter((c) => c.left).slice(0, 4).every((c) => c.gap >= 70), 'room for a node and its name');
  // Each parent between its two children (r over a and b, a over h1 and h2, b over h3 and h4).
  assert.deepEqual(rel.filter((c) => c.left).slice(4).map((c) => [c.left, c.right]),
    [['a', 'r'], ['r', 'b'], ['h1', 'a'], ['a', 'h2'], ['h3', 'b'], ['b', 'h4']]);
  assert.equal(opts.alignmentConstraint.vertical, undefined);
  // Over the middle one of three: one above the other, up the levels.
  const three = graph([['r', 'a'], ['r', 'b'], ['r', 'c'], ['b', 'x'], ['b', 'y'], ['b', 'z'], ['a', 'p'], ['c', 'q']]);
  const stacks = fcoseOptions(three, recognise(three)).alignmentConstraint.vertical.map((g) => g.join(' ')).sort();
  assert.deepEqual(stacks, ['a p', 'c q', 'r b y']);
  // A plain line is no tree to stand on its head: force-directed.
  assert.equal(recognise(graph([['a', 'b'], ['b', 'c'], ['c', 'd']])).shape, 'mesh');
});

test('two tiers of routers, densely linked, with hosts on one tier, are layers: the hostless tier on top', () => {
  const edges = [];
  for (const leaf of ['l1', 'l2', 'l3']) for (const spine of ['s1', 's2']) edges.push([leaf, spine]);
  edges.push(['h1', 'l1'], ['h2', 'l3'], ['h3', 'l3']);
  const plan = recognise(graph(edges));
  assert.equal(plan.shape, 'layers');
  assert.deepEqual(plan.levels, [['s1', 's2'], ['l1', 'l2', 'l3'], ['h1', 'h2', 'h3']]);
  // Without hosts the smaller tier is on top.
  const bare = recognise(graph(edges.slice(0, 6)));
  assert.deepEqual(bare.levels, [['s1', 's2'], ['l1', 'l2', 'l3']]);
  // The smallest fabric is a square (two spines, two leaves): hosts on one pair of corners make it tiers...
  const square = [['s1', 'l1'], ['l1', 's2'], ['s2', 'l2'], ['l2', 's1']];
  assert.equal(recognise(graph([...square, ['h1', 'l1'], ['h2', 'l2']])).shape, 'layers');
  // ... on every corner, or none, a ring.
  assert.equal(recognise(graph([...square, ['h1', 'l1'], ['h2', 'l2'], ['h3', 's1'], ['h4', 's2']])).shape, 'ring');
  assert.equal(recognise(graph(square)).shape, 'ring');
});

test('anything else is force-directed: a grid, a triangle with a chord, pieces, hosts on both tiers', () => {
  const grid = [];
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) {
    if (j < 3) grid.push([`g${i}${j}`, `g${i}${j + 1}`]);
    if (i < 3) grid.push([`g${i}${j}`, `g${i + 1}${j}`]);
  }
  assert.equal(recognise(graph(grid)).shape, 'mesh');
  assert.equal(recognise(graph([...cycle(['a', 'b', 'c', 'd']), ['a', 'c']])).shape, 'mesh');
  assert.equal(recognise(graph([...cycle(['a', 'b', 'c']), ...cycle(['d', 'e', 'f'])])).shape, 'mesh');
  assert.equal(recognise(graph(cycle(['a', 'b', 'c']), ['lonely'])).shape, 'mesh');
  const fabric = [['l1', 's1'], ['l1', 's2'], ['l2', 's1'], ['l2', 's2'], ['l3', 's1'], ['l3', 's2'], ['h1', 'l1'], ['h2', 's1']];
  assert.equal(recognise(graph(fabric)).shape, 'mesh');
  const opts = fcoseOptions(graph(grid), {shape: 'mesh'});
  assert.equal(opts.fixedNodeConstraint, undefined);
  assert.equal(opts.alignmentConstraint, undefined);
});

test('a new node goes beside its neighbour, away from the neighbour\'s other links, on a free spot', () => {
  const g = graph([['a', 'b'], ['b', 'c'], ['new', 'c'], ['new2', 'new']], ['alone']);
  const placed = {a: {x: 0, y: 0}, b: {x: 200, y: 0}, c: {x: 400, y: 0}};
  const pos = placeNear(g, placed, ['new2', 'alone', 'new'], {x: 1000, y: 1000});
  assert.deepEqual(Object.keys(pos).sort(), ['alone', 'new', 'new2']);
  assert.ok(pos.new.x > 400 && Math.hypot(pos.new.x - 400, pos.new.y) < 200, pos.new); // to the right of c, near it
  assert.ok(pos.new2.x > pos.new.x, pos.new2); // further out, beside new
  assert.ok(Math.hypot(pos.alone.x - 1000, pos.alone.y - 1000) < 1, pos.alone);
  // Never on top of a placed node.
  const crowded = placeNear(graph([['x', 'a']]), {a: {x: 0, y: 0}, b: {x: 120, y: 0}}, ['x']);
  assert.ok(Math.abs(crowded.x.x - 120) >= 110 || Math.abs(crowded.x.y) >= 70, crowded.x);
  assert.equal(JSON.stringify(placed), JSON.stringify({a: {x: 0, y: 0}, b: {x: 200, y: 0}, c: {x: 400, y: 0}}));
});

test('the free area leaves out what covers the canvas, on the side that keeps the most room', () => {
  const box = {x1: 0, y1: 0, x2: 800, y2: 600};
  // A tool bar at the bottom right: a strip off the bottom.
  assert.deepEqual(freeArea(box, [{x1: 520, y1: 556, x2: 790, y2: 590}], 8), {x1: 0, y1: 0, x2: 800, y2: 548});
  // A tall pane on the left: a strip off the left.
  assert.deepEqual(freeArea(box, [{x1: 0, y1: 0, x2: 200, y2: 600}], 0), {x1: 200, y1: 0, x2: 800, y2: 600});
  // Outside the canvas: nothing.
  assert.deepEqual(freeArea(box, [{x1: 900, y1: 0, x2: 1000, y2: 50}]), box);
});

test('a big drawing is laid out in cheaper steps: its core by force, its hosts fanned out around their routers', () => {
  const routers = Array.from({length: 100}, (_, i) => `r${i}`);
  const hosts = (edges) => { for (let j = 0; j < 300; j++) edges.push([`h${j}`, routers[j % 100]]); return edges; };
  // A big ring: on its circle at once, no layout to run.
  const ring = arrange(graph(hosts(cycle(routers))));
  assert.equal(ring.shape, 'ring');
  assert.equal(ring.layout, null);
  assert.equal(Object.keys(ring.preset).length, 100);
  assert.equal(Object.keys(ring.fan).length, 300);
  // A big tree: Cytoscape's breadth-first layering from its root.
  const tree = arrange(graph(Array.from({length: 399}, (_, i) => [`t${i + 1}`, `t${Math.floor(i / 3)}`])));
  assert.deepEqual([tree.shape, tree.layout.name, tree.layout.roots], ['tree', 'breadthfirst', ['t0']]);
  // Anything else: fCoSE on the core only, its links longer where hosts will fan out.
  const chords = cycle(routers).concat(routers.map((r, i) => [r, routers[(i + 2) % 100]]));
  const mesh = arrange(graph(hosts(chords)));
  assert.deepEqual([mesh.shape, mesh.on, mesh.layout.name], ['mesh', 'core', 'fcose']);
  const edge = (a, b) => ({source: () => ({id: () => a}), target: () => ({id: () => b})});
  assert.ok(mesh.layout.idealEdgeLength(edge('r0', 'r1')) > 140 + 2 * 80);
  // Small drawings: fCoSE on everything.
  assert.equal(arrange(graph(cycle(['a', 'b', 'c']))).on, 'all');
});

test('hosts fan out on the side of their router away from its other links, apart from each other', () => {
  const g = graph([['a', 'b'], ['h1', 'b'], ['h2', 'b'], ['h3', 'b'], ['h4', 'b']]);
  const fan = {h1: 'b', h2: 'b', h3: 'b', h4: 'b'};
  const pos = fanPendants(g, fan, {a: {x: 0, y: 0}, b: {x: 200, y: 0}});
  const list = ['h1', 'h2', 'h3', 'h4'].map((h) => pos[h]);
  assert.ok(list.every((p) => p.x > 200), list); // beyond b, away from a
  for (let i = 0; i + 1 < list.length; i++) assert.ok(Math.hypot(list[i].x - list[i + 1].x, list[i].y - list[i + 1].y) >= 58, list);
  assert.ok(list.every((p) => Math.hypot(p.x - 200, p.y) < 150), list);
});

test('separate: no two nodes closer than the distance asked, the rest left where they are', () => {
  const pos = {a: {x: 0, y: 0}, b: {x: 10, y: 0}, c: {x: 10, y: 0}, far: {x: 1000, y: 1000}};
  for (let i = 0; i < 40; i++) pos[`h${i}`] = {x: 300 + (i % 5) * 3, y: 300 + Math.floor(i / 5) * 3}; // a heap
  const moved = separate(pos, 56, 40);
  assert.ok(!('far' in moved), moved);
  const after = {...pos, ...moved};
  const ids = Object.keys(after);
  let closest = Infinity;
  for (let i = 0; i < ids.length; i++) for (let j = i + 1; j < ids.length; j++) {
    closest = Math.min(closest, Math.hypot(after[ids[i]].x - after[ids[j]].x, after[ids[i]].y - after[ids[j]].y));
  }
  assert.ok(closest >= 50, closest); // within rounding of 56 after the rounds asked
  // Nothing to do: nothing moved, and the same input gives the same answer (no randomness).
  assert.deepEqual(separate({p: {x: 0, y: 0}, q: {x: 100, y: 0}}), {});
  assert.deepEqual(separate(pos, 56, 40), moved);
});
