// Automatic layouts that fit networks: what shape a drawing has, read from the graph alone (degrees,
// cycles, two-colouring; never the nodes' names or kinds), and the fCoSE options (cytoscape-fcose)
// that draw that shape: a ring as a circle, a tree with its root on top, two tiers of routers (a
// leaf-spine) as layers with their hosts below, anything else force-directed. The shapes become
// fCoSE constraints (fixed, aligned, relative placements), so one maintained layout engine does the
// drawing and keeps nodes apart. Nodes added to a drawing that is already laid out are put near their
// neighbours without moving anyone else (placeNear). The free area of the canvas, out from under its
// overlays, is here too (freeArea). Pure functions: tests/e2e/js/layout.test.js runs them under node.

// Distances in model pixels (a node is about 40 across, its name to its right).
const LEVEL_GAP = 130; // between the levels of a tree or the tiers of a fabric
const GAP = 36; // the least room between a node's label and the next node on its level
const RING_ARC = 110; // arc of the circle per ring node
const PENDANT_ROOM = 56; // more arc per host hanging off a ring node
const PENDANT_EDGE = 70; // a host's link: short, so that it sits by its router
const EDGE = 140; // other links
const BIG = 300; // above this many nodes: fewer iterations, no label measurements

// The graph as sets of neighbours: links between the same two nodes count once, self-links not at all.
export function neighbours({nodes, edges}) {
  const adj = new Map(nodes.map((n) => [n.id, new Set()]));
  for (const [a, b] of edges) {
    if (a === b || !adj.has(a) || !adj.has(b)) continue;
    adj.get(a).add(b);
    adj.get(b).add(a);
  }
  return adj;
}

function connected(adj, ids) {
  if (!ids.length) return true;
  const inside = new Set(ids), seen = new Set([ids[0]]), todo = [ids[0]];
  while (todo.length) for (const m of adj.get(todo.pop())) if (inside.has(m) && !seen.has(m)) { seen.add(m); todo.push(m); }
  return seen.size === ids.length;
}

// Two colours for `ids` (0 and 1) so that no link joins two of one colour, or null (an odd cycle).
function twoColours(adj, ids) {
  const inside = new Set(ids), colour = new Map();
  for (const start of ids) {
    if (colour.has(start)) continue;
    colour.set(start, 0);
    const todo = [start];
    while (todo.length) {
      const n = todo.pop();
      for (const m of adj.get(n)) {
        if (!inside.has(m)) continue;
        if (!colour.has(m)) { colour.set(m, 1 - colour.get(n)); todo.push(m); } else if (colour.get(m) === colour.get(n)) return null;
      }
    }
  }
  return colour;
}

// Walk a cycle whose every node has exactly two neighbours in `core`: its nodes in ring order.
function walkCycle(adj, core) {
  const inside = new Set(core), order = [core[0]];
  let prev = null, cur = core[0];
  for (;;) {
    const next = [...adj.get(cur)].filter((m) => inside.has(m) && m !== prev);
    // Of the two ways round, the one towards the neighbour listed first (stable for a given document).
    const step = prev === null ? next.sort((a, b) => core.indexOf(a) - core.indexOf(b))[0] : next[0];
    if (step === core[0] || step === undefined) break;
    order.push(step);
    prev = cur; cur = step;
  }
  return order;
}

// A tree's centre: strip the leaves until one or two nodes remain; of two, the one on the side with more of the
// tree (then the one with more links), so that most of it hangs below its root.
function centre(adj, ids) {
  const degree = new Map(ids.map((n) => [n, adj.get(n).size]));
  let layer = ids.filter((n) => degree.get(n) <= 1), left = ids.length;
  const gone = new Set();
  while (left > 2) {
    const next = [];
    for (const n of layer) {
      gone.add(n); left--;
      for (const m of adj.get(n)) if (!gone.has(m) && degree.set(m, degree.get(m) - 1).get(m) === 1) next.push(m);
    }
    layer = next;
  }
  const rest = ids.filter((n) => !gone.has(n));
  if (rest.length === 1) return rest[0];
  const side = (n, other) => {
    const seen = new Set([n, other]), todo = [n];
    while (todo.length) for (const m of adj.get(todo.pop())) if (!seen.has(m)) { seen.add(m); todo.push(m); }
    return seen.size - 1;
  };
  const [a, b] = rest, sa = side(a, b), sb = side(b, a);
  if (sa !== sb) return sa > sb ? a : b;
  return rest.sort((x, y) => adj.get(y).size - adj.get(x).size || ids.indexOf(x) - ids.indexOf(y))[0];
}

// What shape the graph has. One of
//   {shape: 'ring', ring: [ids in ring order]}
//   {shape: 'tree', levels: [[root], [its neighbours], ...]} (each level in the order of the one above)
//   {shape: 'layers', levels: [[top tier], [bottom tier], [hosts of the bottom tier]]}
//   {shape: 'mesh'} (anything else, and graphs in several pieces)
// and in each, pendants: {id: the node it hangs off}: nodes with one link, to a node with more (hosts, mostly).
export function recognise(graph) {
  const ids = graph.nodes.map((n) => n.id);
  const adj = neighbours(graph);
  const pendantOf = {};
  for (const n of ids) {
    const [m] = adj.get(n);
    if (adj.get(n).size === 1 && adj.get(m).size > 1) pendantOf[n] = m;
  }
  const mesh = {shape: 'mesh', pendants: pendantOf};
  if (ids.length < 3 || !connected(adj, ids)) return mesh;
  const core = ids.filter((n) => !(n in pendantOf));
  const coreDegree = (n) => [...adj.get(n)].filter((m) => !(m in pendantOf)).length;
  const edges = ids.reduce((s, n) => s + adj.get(n).size, 0) / 2;
  const colours = twoColours(adj, core);
  const anchors = new Set(Object.values(pendantOf));
  // Hosts on one colour only: that colour is the lower tier of a fabric.
  const hostColours = colours ? new Set([...anchors].map((a) => colours.get(a))) : new Set();

  const isCycle = core.length >= 3 && core.every((n) => coreDegree(n) === 2);
  // A square with hosts on two opposite corners only is the smallest leaf-spine (two spines, two leaves).
  const squareFabric = isCycle && core.length === 4 && colours && hostColours.size === 1;
  if (isCycle && !squareFabric) return {shape: 'ring', ring: walkCycle(adj, core), pendants: pendantOf};

  if (edges === ids.length - 1 && ids.some((n) => adj.get(n).size >= 3)) return {shape: 'tree', levels: treeLevels(adj, ids), pendants: pendantOf};

  if (colours && hostColours.size <= 1 && core.length >= 4) {
    const parts = [core.filter((n) => colours.get(n) === 0), core.filter((n) => colours.get(n) === 1)];
    const coreEdges = core.reduce((s, n) => s + coreDegree(n), 0) / 2;
    let top;
    if (hostColours.size === 1) top = 1 - [...hostColours][0];
    else top = parts[0].length !== parts[1].length ? (parts[0].length < parts[1].length ? 0 : 1) : 0;
    const [upper, lower] = [parts[top], parts[1 - top]];
    // Two tiers, densely linked (a grid is two-coloured too, but sparse), each upper node on two or more lower ones.
    if (upper.length >= 1 && lower.length >= 2 && coreEdges >= 0.5 * upper.length * lower.length && upper.every((n) => coreDegree(n) >= 2)) {
      return {shape: 'layers', levels: tiers(adj, ids, upper, lower, pendantOf), pendants: pendantOf};
    }
  }
  return mesh;
}

// A tree's levels from its centre, each level in the order of its parents (so that no links cross);
// a node's children in the document's order.
function treeLevels(adj, ids) {
  const root = centre(adj, ids);
  const order = new Map(ids.map((n, i) => [n, i]));
  const levels = [];
  const visit = (n, parent, depth) => {
    (levels[depth] ||= []).push(n);
    [...adj.get(n)].filter((m) => m !== parent).sort((a, b) => order.get(a) - order.get(b)).forEach((m) => visit(m, n, depth + 1));
  };
  visit(root, null, 0);
  return levels;
}

// A fabric's tiers: the lower one in the document's order, each upper node at the middle of its lower ones
// (by their order), the hosts under their node, in its order.
function tiers(adj, ids, upper, lower, pendantOf) {
  const order = new Map(ids.map((n, i) => [n, i]));
  const at = new Map(lower.map((n, i) => [n, i]));
  const middle = (n) => { const l = [...adj.get(n)].filter((m) => at.has(m)).map((m) => at.get(m)); return l.reduce((s, x) => s + x, 0) / l.length; };
  const top = [...upper].sort((a, b) => middle(a) - middle(b) || order.get(a) - order.get(b));
  const hosts = ids.filter((n) => n in pendantOf).sort((a, b) => at.get(pendantOf[a]) - at.get(pendantOf[b]) || order.get(a) - order.get(b));
  return [top, lower, hosts].filter((l) => l.length);
}

// Room a node needs to its right on its level: its body and its name (the canvas draws names to the right).
function width(node) { return (node.width || 40) + (node.label || 0); }

// How to lay out the whole of `graph` ({nodes: [{id, width, label}], edges: [[a, b]]}; label: the width of the
// node's name in pixels), in steps for the canvas: {shape, preset: {id: position} to set first, layout: the options
// of a Cytoscape layout to run then (or null), on: 'all' nodes or the 'core' (all but the pendants), and
// fan: {pendant: its node}, to place last, around their nodes (fanPendants)}. Up to BIG nodes fCoSE draws
// everything; above, it draws the core only and the hosts fan out around their routers, a big ring needs
// no force at all, and a big tree or fabric is Cytoscape's own breadth-first layering from its top level.
export function arrange(graph) {
  const plan = recognise(graph);
  const shape = plan.shape;
  if (graph.nodes.length <= BIG) return {shape, layout: fcoseOptions(graph, plan), on: 'all'};
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  if (shape === 'ring') return {shape, preset: Object.fromEntries(ringPositions(plan, byId)), layout: null, fan: plan.pendants};
  if (shape === 'tree' || shape === 'layers') {
    return {shape, on: 'all', layout: {name: 'breadthfirst', roots: plan.levels[0], directed: false, animate: false, fit: false,
      spacingFactor: 1, avoidOverlap: true, nodeDimensionsIncludeLabels: false, grid: false, circle: false}};
  }
  const pendants = plan.pendants;
  const core = {nodes: graph.nodes.filter((n) => !(n.id in pendants)), edges: graph.edges.filter(([a, b]) => !(a in pendants) && !(b in pendants))};
  const count = new Map();
  for (const anchor of Object.values(pendants)) count.set(anchor, (count.get(anchor) || 0) + 1);
  const room = new Map([...count].map(([anchor, k]) => [anchor, fanRadius(k)]));
  return {shape, layout: fcoseOptions(core, {shape: 'mesh'}, room), on: 'core', fan: pendants};
}

// How far from its node a fan of k pendants is: far enough for 60 px between neighbours on the arc.
function fanRadius(k) { return k > 1 ? Math.max(90, 62 / fanStep(k)) : 90; }
function fanStep(k) { return k > 1 ? Math.min(0.6, 2.6 / (k - 1)) : 0; }

// Positions for the pendants `fan` ({pendant: its node}) around their nodes (placed, in `at`: {id: {x, y}}):
// a fan of at most 150° on the side away from the node's other links (from the drawing's middle when it has none).
export function fanPendants(graph, fan, at) {
  const adj = neighbours(graph);
  const groups = new Map();
  for (const n of graph.nodes) if (n.id in fan) groups.set(fan[n.id], [...(groups.get(fan[n.id]) || []), n.id]);
  const placed = Object.entries(at).filter(([id]) => !(id in fan)).map(([, p]) => p);
  const middle = {x: placed.reduce((s, p) => s + p.x, 0) / (placed.length || 1), y: placed.reduce((s, p) => s + p.y, 0) / (placed.length || 1)};
  const result = {};
  for (const [anchor, list] of groups) {
    const a = at[anchor];
    if (!a) continue;
    const others = [...adj.get(anchor)].filter((m) => !(m in fan) && at[m]).map((m) => at[m]);
    const from = others.length ? {x: others.reduce((s, p) => s + p.x, 0) / others.length, y: others.reduce((s, p) => s + p.y, 0) / others.length} : middle;
    let angle = Math.atan2(a.y - from.y, a.x - from.x);
    if (Math.hypot(a.y - from.y, a.x - from.x) < 1) angle = Math.PI / 2; // nowhere in particular: below
    const k = list.length, step = fanStep(k), r = fanRadius(k);
    list.forEach((id, i) => {
      const t = angle + (i - (k - 1) / 2) * step;
      result[id] = {x: Math.round(a.x + r * Math.cos(t)), y: Math.round(a.y + r * Math.sin(t))};
    });
  }
  return result;
}

// Positions `pos` ({id: {x, y}}) with no two nodes' centres closer than `apart` model pixels: a pair too close
// is pushed apart along the line between them (straight down when they coincide), a few rounds, on a grid so
// that a big drawing costs about one pass per round. Fans of hosts of two routers that ended up close (fCoSE
// is random) would otherwise lay nodes over each other, and their names with them. Returns the moved ones.
export function separate(pos, apart = 56, rounds = 12) {
  const at = Object.fromEntries(Object.entries(pos).map(([id, p]) => [id, {x: p.x, y: p.y}]));
  const ids = Object.keys(at).sort();
  for (let round = 0; round < rounds; round++) {
    const grid = new Map();
    const cell = (v) => Math.floor(v / apart);
    for (const id of ids) {
      const key = `${cell(at[id].x)},${cell(at[id].y)}`;
      if (!grid.has(key)) grid.set(key, []);
      grid.get(key).push(id);
    }
    let moved = false;
    for (const id of ids) {
      const a = at[id], cx = cell(a.x), cy = cell(a.y);
      for (let dx = -1; dx <= 1; dx++) for (let dy = -1; dy <= 1; dy++) {
        for (const other of grid.get(`${cx + dx},${cy + dy}`) || []) {
          if (other <= id) continue; // each pair once
          const b = at[other];
          let vx = b.x - a.x, vy = b.y - a.y, d = Math.hypot(vx, vy);
          if (d >= apart) continue;
          if (d < 0.01) { vx = 0; vy = 1; d = 1; } else { vx /= d; vy /= d; }
          const push = (apart - Math.min(d, apart)) / 2 + 0.5;
          a.x -= vx * push; a.y -= vy * push; b.x += vx * push; b.y += vy * push;
          moved = true;
        }
      }
    }
    if (!moved) break;
  }
  const result = {};
  for (const id of ids) {
    const p = {x: Math.round(at[id].x), y: Math.round(at[id].y)};
    if (p.x !== pos[id].x || p.y !== pos[id].y) result[id] = p;
  }
  return result;
}

// The fCoSE options that draw `plan` (from recognise) for `graph` (as for arrange). Positions in model pixels,
// centred on (0, 0). room: {id: the radius of the fan of hosts it will have} (arrange: for a core without its hosts).
export function fcoseOptions(graph, plan, room = new Map()) {
  const big = graph.nodes.length > BIG;
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const adj = neighbours(graph);
  const pendant = (a, b) => adj.get(a).size === 1 || adj.get(b).size === 1;
  const opts = {
    name: 'fcose', animate: false, fit: false, randomize: true, quality: 'default',
    nodeDimensionsIncludeLabels: false, uniformNodeDimensions: false, packComponents: false,
    nodeSeparation: 90, nodeRepulsion: (node) => 16000 * (1 + (room.get(node.id()) || 0) / 60), gravity: 0.3, numIter: big ? 1200 : 2500,
    idealEdgeLength: (edge) => {
      const a = edge.source().id(), b = edge.target().id();
      return pendant(a, b) ? PENDANT_EDGE : EDGE + (room.get(a) || 0) + (room.get(b) || 0);
    },
    edgeElasticity: () => 0.45, tile: true, tilingPaddingVertical: 40, tilingPaddingHorizontal: 60,
  };
  if (plan.shape === 'ring') {
    opts.fixedNodeConstraint = ringPositions(plan, byId).map(([nodeId, position]) => ({nodeId, position}));
  } else if (plan.shape === 'tree' || plan.shape === 'layers') {
    const levels = plan.levels;
    opts.alignmentConstraint = {horizontal: levels.filter((l) => l.length > 1)};
    const rel = [];
    for (let i = 0; i + 1 < levels.length; i++) rel.push({top: levels[i][0], bottom: levels[i + 1][0], gap: LEVEL_GAP});
    const rows = levels.map((level) => level.slice(0, -1).map((n) => width(byId.get(n)) + GAP));
    // A fabric's upper tier spreads over the tiers below (its nodes link to all of them), at the least as wide as their widest row.
    if (plan.shape === 'layers' && levels[0].length > 1) {
      const span = Math.max(...rows.slice(1).map((gaps) => gaps.reduce((s, g) => s + g, 0)));
      rows[0] = rows[0].map((g) => Math.max(g, Math.round(span / levels[0].length)));
    }
    levels.forEach((level, i) => rows[i].forEach((gap, j) => rel.push({left: level[j], right: level[j + 1], gap})));
    // A node above its own row of children (a tree's, a leaf's hosts): over the middle one, or between the middle two.
    const vertical = new Map(); // node -> its group of nodes one above another
    const stack = (a, b) => {
      const ga = vertical.get(a) || [a], gb = vertical.get(b) || [b];
      if (ga === gb) return;
      const group = [...ga, ...gb];
      for (const n of group) vertical.set(n, group);
    };
    for (let i = 0; i + 1 < levels.length; i++) {
      const upper = new Set(levels[i]), children = new Map();
      for (const n of levels[i + 1]) {
        const ups = [...adj.get(n)].filter((m) => upper.has(m));
        if (ups.length === 1) children.set(ups[0], [...(children.get(ups[0]) || []), n]);
      }
      for (const [parent, row] of children) {
        const mid = Math.floor(row.length / 2);
        if (row.length % 2) { stack(parent, row[mid]); continue; }
        const half = Math.round((width(byId.get(row[mid - 1])) + GAP) / 2);
        rel.push({left: row[mid - 1], right: parent, gap: half}, {left: parent, right: row[mid], gap: half});
      }
    }
    const groups = [...new Set(vertical.values())];
    if (groups.length) opts.alignmentConstraint.vertical = groups;
    if (rel.length) opts.relativePlacementConstraint = rel;
  }
  return opts;
}

// A ring's nodes on a circle, clockwise from the top, in ring order; a node with hosts gets more of the circle.
export function ringPositions(plan, byId = new Map()) {
  const hosts = new Map();
  for (const anchor of Object.values(plan.pendants || {})) hosts.set(anchor, (hosts.get(anchor) || 0) + 1);
  const arcs = plan.ring.map((n) => Math.max(RING_ARC, width(byId.get(n) || {}) + 30) + PENDANT_ROOM * Math.max(0, (hosts.get(n) || 0) - 1));
  const total = arcs.reduce((s, a) => s + a, 0);
  const radius = Math.max(120, total / (2 * Math.PI));
  let along = 0;
  return plan.ring.map((n, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * (along + arcs[i] / 2 - arcs[0] / 2)) / total;
    along += arcs[i];
    return [n, {x: Math.round(radius * Math.cos(angle)), y: Math.round(radius * Math.sin(angle))}];
  });
}

// Positions for the `unplaced` nodes of a drawing whose other nodes stay where they are (`placed`: {id: {x, y}}):
// each goes beside its placed neighbours, on the side away from their other links, in the first free spot;
// one with no placed neighbour at all goes to the first free spot from `spot`. Nodes placed here count as
// placed for the next ones (a new host of a new router follows it).
export function placeNear(graph, placed, unplaced, spot = {x: 0, y: 0}) {
  const adj = neighbours(graph);
  const at = new Map(Object.entries(placed));
  const result = {};
  const free = (p) => [...at.values()].every((q) => Math.abs(q.x - p.x) >= 110 || Math.abs(q.y - p.y) >= 70);
  const firstFree = (p, dir) => {
    for (let r = 0; r < 40; r++) {
      for (let k = 0; k < 8 * Math.max(1, r); k++) {
        const a = Math.atan2(dir.y, dir.x) + (k % 2 ? 1 : -1) * Math.ceil(k / 2) * (Math.PI / (4 * Math.max(1, r)));
        const q = {x: Math.round(p.x + r * 60 * Math.cos(a)), y: Math.round(p.y + r * 60 * Math.sin(a))};
        if (free(q)) return q;
      }
    }
    return p;
  };
  const todo = [...unplaced];
  while (todo.length) {
    // The next one: the node with the most placed neighbours (in the given order on a tie).
    let best = 0, bestCount = -1;
    todo.forEach((n, i) => { const c = [...adj.get(n) || []].filter((m) => at.has(m)).length; if (c > bestCount) { best = i; bestCount = c; } });
    const [n] = todo.splice(best, 1);
    const near = [...adj.get(n) || []].filter((m) => at.has(m)).map((m) => [m, at.get(m)]);
    let p = spot, dir = {x: 1, y: 0};
    if (near.length) {
      const c = {x: near.reduce((s, [, q]) => s + q.x, 0) / near.length, y: near.reduce((s, [, q]) => s + q.y, 0) / near.length};
      // Away from where the neighbours' other links go.
      const others = near.flatMap(([m]) => [...adj.get(m)].filter((o) => o !== n && at.has(o)).map((o) => at.get(o)));
      if (others.length) {
        const o = {x: others.reduce((s, q) => s + q.x, 0) / others.length, y: others.reduce((s, q) => s + q.y, 0) / others.length};
        const len = Math.hypot(c.x - o.x, c.y - o.y);
        if (len > 1) dir = {x: (c.x - o.x) / len, y: (c.y - o.y) / len};
      }
      p = near.length === 1 ? {x: c.x + dir.x * 120, y: c.y + dir.y * 120} : c;
    }
    const q = firstFree(p, dir);
    at.set(n, q);
    result[n] = q;
  }
  return result;
}

// The part of a canvas (`box`, {x1, y1, x2, y2} in page pixels) not under its overlays (`covers`, boxes):
// each cover that reaches into it takes a strip off the side that leaves the most room.
export function freeArea(box, covers, margin = 8) {
  let f = {...box};
  for (const c of covers) {
    if (c.x2 <= f.x1 || c.x1 >= f.x2 || c.y2 <= f.y1 || c.y1 >= f.y2) continue;
    const cuts = [
      {...f, y1: Math.max(f.y1, c.y2 + margin)}, {...f, y2: Math.min(f.y2, c.y1 - margin)},
      {...f, x1: Math.max(f.x1, c.x2 + margin)}, {...f, x2: Math.min(f.x2, c.x1 - margin)},
    ];
    const area = (r) => Math.max(0, r.x2 - r.x1) * Math.max(0, r.y2 - r.y1);
    const best = cuts.reduce((a, b) => (area(b) > area(a) ? b : a));
    if (area(best) > 0) f = best;
  }
  return f;
}
