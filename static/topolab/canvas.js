// The Cytoscape canvas: draws the document, turns mouse gestures into edit requests.
// It never changes the document itself: it calls the editor's callbacks, and the
// editor calls sync() with the new document. How each kind looks (shape, size, fill) is the
// server's registry (topology/kinds.py), handed over by the editor from the page's config.
// A path, not a bare name: an import map is inline script to the Content-Security-Policy.
import cytoscape from '../vendor/cytoscape/cytoscape.esm.min.mjs';
import {linkLabel} from './link-live.js';

if (window.cytoscapeEdgehandles) cytoscape.use(window.cytoscapeEdgehandles);

const GRID = 24;
// The query topolab.css picks its theme by: the kinds' fills follow the same choice.
const darkQuery = window.matchMedia('(prefers-color-scheme: dark)');

export const nodeId = (name) => `n:${name}`;
export const linkId = (index) => `l:${index}`;

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

// One rule per kind: its shape, size and fill in the current colour scheme. A kind the
// registry does not know (a document not yet checked) keeps the plain node style.
function kindRules(kinds) {
  const scheme = darkQuery.matches ? 'dark' : 'light';
  return kinds.map((k) => ({selector: `node[kind = ${JSON.stringify(k.name)}]`, style: {
    shape: k.shape, width: k.size.width, height: k.size.height, 'background-color': k.colour[scheme]}}));
}

function stylesheet(showLabels, kinds) {
  const fg = css('--fg'), muted = css('--muted'), bg = css('--canvas'), accent = css('--accent');
  const node = css('--node'), nodeBorder = css('--node-border');
  return [
    {selector: 'node', style: {
      shape: 'round-rectangle', width: 40, height: 40,
      'background-color': node, 'border-width': 2, 'border-color': nodeBorder,
      label: 'data(label)', 'text-valign': 'center', 'text-halign': 'right', 'text-margin-x': 7, 'text-justification': 'left', 'font-size': 12, color: fg,
      'text-wrap': 'wrap', 'text-max-width': 160, 'font-family': 'system-ui, sans-serif',
      'text-background-color': bg, 'text-background-opacity': 0.75, 'text-background-padding': 1,
      'min-zoomed-font-size': 7, // labels too small to read are not drawn (fast with hundreds of nodes)
    }},
    ...kindRules(kinds), // before the states, whose colours win
    {selector: 'node[state="pending"]', style: {'background-color': css('--st-pending'), 'border-color': css('--st-pending-b')}},
    {selector: 'node[state="creating"]', style: {'background-color': css('--st-creating'), 'border-color': css('--st-creating-b'), 'border-style': 'dashed', 'border-width': 3}},
    {selector: 'node[state="creating"].pulse', style: {'border-width': 5}},
    {selector: 'node[state="running"]', style: {'background-color': css('--st-running'), 'border-color': css('--st-running-b')}},
    {selector: 'node[state="failed"]', style: {'background-color': css('--st-failed'), 'border-color': css('--st-failed-b'), color: css('--st-failed-b')}},
    {selector: 'node[state="stopped"]', style: {'background-color': bg, 'border-color': muted}},
    // Lost behind the engine's back (topology/watcher.py): stopped, but alarming; a gone one fainter still.
    {selector: 'node[state="exited"], node[state="gone"]', style: {'background-color': css('--st-failed'),
      'border-color': css('--st-failed-b'), 'border-style': 'dashed', 'border-width': 3, color: css('--st-failed-b')}},
    {selector: 'node[state="gone"]', style: {'background-opacity': 0.4}},
    {selector: 'edge', style: {
      width: 2, 'line-color': muted, 'curve-style': 'bezier', 'font-size': 10, color: fg,
      'source-label': showLabels ? 'data(sourceLabel)' : '', 'target-label': showLabels ? 'data(targetLabel)' : '',
      'source-text-offset': 40, 'target-text-offset': 40, 'text-wrap': 'wrap',
      'text-background-color': bg, 'text-background-opacity': 0.85, 'text-background-padding': 1,
      'font-family': 'ui-monospace, monospace', 'min-zoomed-font-size': 7,
    }},
    // A down link: dashed and faint, and its middle label says "down" (not colour alone); an impaired
    // one: thicker, in the warning colour, with its impairment as words ("50% loss · 1 Mbit/s").
    // (The label's colour and weight would apply to the end labels too: they stay the plain ones.)
    {selector: 'edge[linkState="down"]', style: {'line-style': 'dashed', 'line-dash-pattern': [7, 5], 'line-opacity': 0.5}},
    {selector: 'edge[?impaired]', style: {width: 3, 'line-color': css('--warn')}},
    // The middle label sits on the line, or beside the end labels when a short link leaves it no room (midOffset).
    {selector: 'edge.doc[midLabel != ""]', style: {label: 'data(midLabel)', 'font-size': 11,
      'text-background-opacity': 1, 'text-background-padding': 2, 'text-background-shape': 'roundrectangle',
      'font-family': 'system-ui, sans-serif', 'text-margin-x': 'data(midDx)', 'text-margin-y': 'data(midDy)'}},
    {selector: '.warning', style: {'border-color': css('--warn'), 'line-color': css('--warn'), 'border-width': 3}},
    {selector: '.error', style: {'border-color': css('--error'), 'line-color': css('--error'), 'border-width': 4, 'border-style': 'solid'}},
    {selector: 'edge.error, edge.warning', style: {width: 4}},
    {selector: 'node:selected', style: {'overlay-color': accent, 'overlay-opacity': 0.18, 'overlay-padding': 6, 'border-color': accent}},
    {selector: 'edge:selected', style: {'line-color': accent, width: 4}},
    {selector: '.eh-handle', style: {shape: 'ellipse', width: 12, height: 12, 'background-color': accent, 'border-width': 2,
      'border-color': bg, label: '', 'overlay-opacity': 0, 'z-index': 10}},
    {selector: '.eh-ghost-edge, .eh-preview', style: {'line-color': accent, 'line-style': 'dashed', width: 2, 'source-label': '', 'target-label': ''}},
    {selector: '.eh-ghost-node', style: {opacity: 0}},
    {selector: '.eh-target', style: {'border-color': accent, 'border-width': 4}},
  ];
}

function endpointLabel(ep) {
  if (!ep) return '';
  return [ep.interface || '', ...(ep.addresses || [])].filter(Boolean).join('\n');
}

// Where a link's middle label goes, as a shift from the link's middle: none when the end labels
// leave it room on the line, else beside them, to the right of an upright link or above a flat one.
// From the labels' lengths (a character is about 6 px at these sizes): no text is measured.
function midOffset(edge, showLabels) {
  const label = edge.data('midLabel');
  if (!label) return {x: 0, y: 0};
  const s = edge.source().position(), t = edge.target().position();
  const len = Math.hypot(t.x - s.x, t.y - s.y) || 1;
  const dx = (t.x - s.x) / len, dy = (t.y - s.y) / len;
  let nx = -dy, ny = dx;
  if (ny > 0 || (ny === 0 && nx < 0)) { nx = -nx; ny = -ny; }
  const ends = showLabels ? [edge.data('sourceLabel'), edge.data('targetLabel')].map((l) => (l || '').split('\n').filter(Boolean)) : [];
  const endW = Math.max(0, ...ends.flat().map((l) => l.length * 6.1)) + 4;
  const endH = Math.max(0, ...ends.map((l) => l.length * 12.5)) + 2;
  const midW = label.length * 6.2 + 8, midH = 17;
  const half = (w, h, ux, uy) => (Math.abs(ux) * w + Math.abs(uy) * h) / 2; // a box's half extent along a direction
  const room = (len - 44) / 2 - 40; // from the middle to an end label's centre (40: the end labels' offset)
  if (!showLabels || !ends.flat().length || room >= half(endW, endH, dx, dy) + half(midW, midH, dx, dy) + 4) return {x: 0, y: 0};
  const off = half(endW, endH, nx, ny) + half(midW, midH, nx, ny) + 4;
  return {x: Math.round(nx * off), y: Math.round(ny * off)};
}

export class Canvas {
  // kinds: the config's list of kinds; defaultKind: the kind of a node that says none.
  constructor(container, callbacks, {kinds, defaultKind}) {
    this.container = container;
    this.cb = callbacks; // {onAddLink(a,b), onMove({name:{x,y}}), onSelect(), onDrop(kind, pos), onTooltip(ele|null, evt)}
    this.kinds = kinds;
    this.defaultKind = defaultKind;
    this.showLabels = true;
    this.cy = cytoscape({
      container, style: stylesheet(true, kinds), minZoom: 0.05, maxZoom: 4,
      boxSelectionEnabled: true, selectionType: 'single',
    });
    this.cy.on('viewport', () => this.updateGrid());
    this.updateGrid();
    this.setupHandle();
    this.cy.on('select unselect', () => this.selectionChanged());
    // Click selects one element; Shift-, Ctrl- or Cmd-click toggles; Shift-drag on empty space box-selects.
    let moved = null;
    this.cy.on('dragfreeon', 'node.doc', (e) => {
      moved = moved || {};
      moved[e.target.data('name')] = {...e.target.position()};
      queueMicrotask(() => { if (moved) { const m = moved; moved = null; this.cb.onMove(m); } });
    });
    this.cy.on('mouseover', 'node.doc, edge.doc', (e) => this.cb.onTooltip(e.target, e));
    this.cy.on('mouseout', 'node.doc, edge.doc', () => this.cb.onTooltip(null));
    container.addEventListener('dragover', (e) => { if (e.dataTransfer.types.includes('application/x-topolab-kind')) e.preventDefault(); });
    container.addEventListener('drop', (e) => {
      const kind = e.dataTransfer.getData('application/x-topolab-kind');
      if (!kind) return;
      e.preventDefault();
      this.cb.onDrop(kind, this.modelPosition(e.clientX, e.clientY));
    });
    // A moved node moves its links' middle labels out of the way of their end labels again.
    this.cy.on('position', 'node.doc', (e) => this.placeMidLabels(e.target.connectedEdges('.doc')));
    this.pulse = setInterval(() => this.cy.nodes('[state="creating"]').toggleClass('pulse'), 600);
  }

  modelPosition(clientX, clientY) {
    const r = this.container.getBoundingClientRect();
    const pan = this.cy.pan(), zoom = this.cy.zoom();
    return {x: (clientX - r.left - pan.x) / zoom, y: (clientY - r.top - pan.y) / zoom};
  }

  // The middle of what is visible, nudged so that nodes added one after another do not stack.
  freeSpot() {
    const ext = this.cy.extent();
    let p = {x: Math.round((ext.x1 + ext.x2) / 2 / GRID) * GRID, y: Math.round((ext.y1 + ext.y2) / 2 / GRID) * GRID};
    const busy = (q) => this.cy.nodes('.doc').some((n) => Math.abs(n.position('x') - q.x) < 50 && Math.abs(n.position('y') - q.y) < 50);
    for (let k = 0; k < 200 && busy(p); k++) p = {x: p.x + 72 * ((k % 5) + 1) * (k % 2 ? -1 : 1) / ((k % 5) + 1), y: p.y + (k % 5 === 4 ? 72 : 0)};
    return p;
  }

  updateGrid() {
    const z = this.cy.zoom(), pan = this.cy.pan();
    const size = GRID * z;
    this.container.style.backgroundSize = `${size}px ${size}px`;
    this.container.style.backgroundPosition = `${pan.x}px ${pan.y}px`;
  }

  setupHandle() {
    const cy = this.cy;
    this.eh = cy.edgehandles({
      canConnect: (s, t) => t.hasClass('doc') && !s.same(t),
      edgeParams: () => ({classes: 'eh-temp'}), hoverDelay: 50, snap: true, snapThreshold: 20,
    });
    this.handle = null;
    let owner = null;
    const hide = () => { if (this.handle) { this.handle.remove(); this.handle = null; } };
    const place = (node) => {
      if (this.eh.active || node.grabbed()) return;
      owner = node;
      const bb = node.boundingBox({includeLabels: false, includeOverlays: false});
      const pos = {x: bb.x2, y: bb.y1};
      if (!this.handle) this.handle = cy.add({group: 'nodes', data: {id: '__handle__'}, position: pos, classes: 'eh-handle', grabbable: false, selectable: false});
      else this.handle.position(pos);
    };
    cy.on('mouseover', 'node.doc', (e) => place(e.target));
    cy.on('mouseout', 'node.doc', () => setTimeout(() => { if (!this.overHandle && !this.eh.active) hide(); }, 250));
    cy.on('mouseover', 'node.eh-handle', () => { this.overHandle = true; });
    cy.on('mouseout', 'node.eh-handle', () => { this.overHandle = false; if (!this.eh.active) setTimeout(() => { if (!this.overHandle && !this.eh.active) hide(); }, 250); });
    cy.on('grab', 'node.doc', hide);
    cy.on('tapstart', 'node.eh-handle', () => { if (owner) this.eh.start(owner); });
    cy.on('ehstop', () => { hide(); this.overHandle = false; });
    cy.on('ehcomplete', (event, source, target, added) => {
      added.remove();
      this.cb.onAddLink(source.data('name'), target.data('name'));
    });
  }

  setLinkMode(on) {
    if (on) this.eh.enableDrawMode(); else this.eh.disableDrawMode();
    this.cy.autoungrabify(on);
  }

  setLabels(on) {
    this.showLabels = on;
    this.restyle();
    this.placeMidLabels(this.cy.edges('.doc'));
  }

  placeMidLabels(edges) {
    edges.forEach((e) => {
      const o = midOffset(e, this.showLabels);
      if (e.data('midDx') !== o.x) e.data('midDx', o.x);
      if (e.data('midDy') !== o.y) e.data('midDy', o.y);
    });
  }

  // Again from the page's colours (the colour scheme changed, or the labels were toggled).
  restyle() { this.cy.style(stylesheet(this.showLabels, this.kinds)); }

  // Make the canvas show `doc`, touching only what changed.
  sync(doc, {states = {}, renamed = null} = {}) {
    const cy = this.cy;
    const want = new Map();
    for (const n of doc.nodes || []) {
      if (!n || typeof n.name !== 'string') continue;
      const st = states[n.name] || {};
      let label = n.name;
      if (st.state === 'failed' || st.state === 'exited' || st.state === 'gone') {
        label = `${n.name}\n✕ ${st.state}${st.reason ? `: ${st.reason.length > 80 ? `${st.reason.slice(0, 79)}…` : st.reason}` : ''}`;
      } else if (st.state && st.state !== 'none' && st.state !== 'stopped') label = `${n.name}\n${st.state}`;
      want.set(nodeId(n.name), {group: 'nodes', data: {id: nodeId(n.name), name: n.name, kind: n.kind || this.defaultKind, label, state: st.state || 'none', reason: st.reason || ''},
        position: n.position ? {...n.position} : null});
    }
    (doc.links || []).forEach((l, i) => {
      const [a, b] = (l && l.endpoints) || [];
      if (!a || !b || !want.has(nodeId(a.node)) || !want.has(nodeId(b.node)) || a.node === b.node) return;
      want.set(linkId(i), {group: 'edges', data: {id: linkId(i), index: i, source: nodeId(a.node), target: nodeId(b.node),
        sourceLabel: endpointLabel(a), targetLabel: endpointLabel(b), linkState: l.state || 'up',
        impaired: !!l.impairment && Object.keys(l.impairment).length > 0, midLabel: linkLabel(l)}});
    });
    const selected = new Set(cy.elements(':selected').map((e) => e.id()));
    if (renamed) for (const [from, to] of Object.entries(renamed)) if (selected.delete(nodeId(from))) selected.add(nodeId(to));
    const unplaced = [];
    cy.batch(() => {
      cy.elements('.doc').forEach((ele) => {
        const w = want.get(ele.id());
        if (!w || (ele.isEdge() && (ele.data('source') !== w.data.source || ele.data('target') !== w.data.target))) ele.remove();
      });
      const add = [];
      for (const [id, w] of want) {
        const ele = cy.getElementById(id);
        if (ele.nonempty() && ele.inside()) {
          for (const [k, v] of Object.entries(w.data)) if (ele.data(k) !== v && k !== 'source' && k !== 'target') ele.data(k, v);
          if (w.position && !ele.grabbed()) {
            const p = ele.position();
            if (p.x !== w.position.x || p.y !== w.position.y) ele.position(w.position);
          }
        } else {
          if (w.group === 'nodes' && !w.position) { unplaced.push(id); w.position = {x: 0, y: 0}; }
          add.push({...w, classes: 'doc', selected: selected.has(id)});
        }
      }
      // Nodes first, so that edges find their ends.
      cy.add(add.filter((a) => a.group === 'nodes'));
      cy.add(add.filter((a) => a.group === 'edges'));
      for (const id of selected) { const e = cy.getElementById(id); if (e.nonempty() && !e.selected()) e.select(); }
      this.placeMidLabels(cy.edges('.doc'));
    });
    return unplaced;
  }

  // Automatic layout of `ids` (all document nodes when empty); calls back with the new positions.
  layout(ids, done) {
    const cy = this.cy;
    const all = cy.elements('.doc');
    const nodes = ids && ids.length ? cy.collection(ids.map((id) => cy.getElementById(id))) : all.nodes();
    const big = all.nodes().length > 150;
    const opts = big
      ? {name: 'breadthfirst', spacingFactor: 1.1, animate: false, directed: false, grid: false, circle: false}
      : {name: 'cose', animate: false, nodeRepulsion: () => 9000, idealEdgeLength: () => 110, randomize: true, padding: 40, numIter: 1500};
    const eles = ids && ids.length && ids.length < all.nodes().length ? nodes.union(nodes.connectedEdges()) : all;
    const l = eles.layout(opts);
    l.one('layoutstop', () => {
      const pos = {};
      nodes.forEach((n) => { const p = n.position(); pos[n.data('name')] = {x: Math.round(p.x / GRID) * GRID, y: Math.round(p.y / GRID) * GRID}; });
      done(pos);
    });
    l.run();
  }

  // Fit every node in view. From the nodes' positions alone: measuring hundreds of labels
  // for a bounding box costs more than drawing them.
  fit() {
    const nodes = this.cy.nodes('.doc');
    if (nodes.empty()) return;
    let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
    nodes.forEach((n) => { const p = n.position(); x1 = Math.min(x1, p.x); y1 = Math.min(y1, p.y); x2 = Math.max(x2, p.x); y2 = Math.max(y2, p.y); });
    // Room for the node itself and its label on the right.
    x1 -= 60; x2 += 130; y1 -= 70; y2 += 70;
    const w = this.cy.width(), h = this.cy.height();
    const zoom = Math.min(1, w / (x2 - x1), h / (y2 - y1));
    this.cy.viewport({zoom, pan: {x: w / 2 - zoom * (x1 + x2) / 2, y: h / 2 - zoom * (y1 + y2) / 2}});
  }
  // Are all nodes inside the visible area (as of the last resize)?
  allVisible() {
    const e = this.cy.extent();
    return this.cy.nodes('.doc').every((n) => { const p = n.position(); return p.x - 30 > e.x1 && p.x + 30 < e.x2 && p.y - 40 > e.y1 && p.y + 40 < e.y2; });
  }

  zoomBy(f) { const c = this.cy; c.zoom({level: c.zoom() * f, renderedPosition: {x: c.width() / 2, y: c.height() / 2}}); }

  selection() {
    const sel = this.cy.elements(':selected');
    return {nodes: sel.nodes('.doc').map((n) => n.data('name')), links: sel.edges('.doc').map((e) => e.data('index'))};
  }

  select({nodes = [], links = []}) {
    this.cy.batch(() => {
      this.cy.elements(':selected').unselect();
      for (const n of nodes) this.cy.getElementById(nodeId(n)).select();
      for (const i of links) this.cy.getElementById(linkId(i)).select();
    });
  }

  selectionChanged() {
    if (this._selTimer) return;
    this._selTimer = requestAnimationFrame(() => { this._selTimer = null; this.cb.onSelect(this.selection()); });
  }

  // problems: Map of element id -> {level, messages}
  markProblems(problems) {
    this.cy.batch(() => {
      this.cy.elements('.error, .warning').removeClass('error warning');
      for (const [id, p] of problems) {
        const e = this.cy.getElementById(id);
        if (e.nonempty()) e.addClass(p.level);
      }
    });
  }
}
