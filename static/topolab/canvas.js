// The Cytoscape canvas: draws the document, turns mouse gestures into edit requests.
// It never changes the document itself: it calls the editor's callbacks, and the
// editor calls sync() with the new document. How each kind looks (shape, size, fill) is the
// server's registry (topology/kinds.py), handed over by the editor from the page's config.
// A path, not a bare name: an import map is inline script to the Content-Security-Policy.
import cytoscape from '../vendor/cytoscape/cytoscape.esm.min.mjs';
import {linkLabel} from './link-live.js';
import {END_BAND_CLASSES, END_FAMILY, NAME_BAND_CLASSES, NAME_MARGIN, crowdedNames, endBand, endBandInfo, endBandRules, endText, nameBand,
  nameBandClass, nameBandRules, nameFont, placeLink, separateEnds} from './canvas-labels.js';
import {arrange, fanPendants, freeArea, placeNear, separate} from './layout.js';

if (window.cytoscapeEdgehandles) cytoscape.use(window.cytoscapeEdgehandles);

const GRID = 24;
const HANDLE = 16; // the link handle's diameter on screen, in px
const RING = 6; // how far in from a node's outline a drag links instead of moving it, in screen px
// One wheel notch (a deltaY of 100 px) zooms by this factor; finer devices (touchpads) in proportion.
const WHEEL_NOTCH = 1.15;
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

function stylesheet(kinds) {
  const fg = css('--fg'), muted = css('--muted'), bg = css('--canvas'), accent = css('--accent');
  const node = css('--node'), nodeBorder = css('--node-border');
  return [
    {selector: 'node', style: {
      shape: 'round-rectangle', width: 40, height: 40,
      'background-color': node, 'border-width': 2, 'border-color': nodeBorder,
      // The name below the node, where a link's end labels know to keep clear of it (canvas-labels.js).
      label: 'data(label)', 'text-valign': 'bottom', 'text-halign': 'center', 'text-margin-y': NAME_MARGIN, 'font-size': 12, color: fg,
      'text-wrap': 'wrap', 'text-max-width': 160, 'font-family': 'system-ui, sans-serif',
      'text-background-color': bg, 'text-background-opacity': 0.75, 'text-background-padding': 1,
      // Labels too small to read are not drawn (fast with hundreds of nodes); zoomed out, the name bands'
      // bigger fonts keep a name above this until its node is a speck.
      'min-zoomed-font-size': 7,
    }},
    ...kindRules(kinds), // before the states, whose colours win
    ...nameBandRules(),
    // A name that would cover a better-linked node's is left out at this zoom (canvas-labels.js crowdedNames).
    {selector: 'node.name-crowded', style: {'text-opacity': 0, 'text-background-opacity': 0}},
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
    // A link's end labels: what they say and how far along the link they sit are the placement's
    // (canvas-labels.js, by zoom level), along the line; the mouse on one is on the link (its tooltip).
    {selector: 'edge', style: {width: 2, 'line-color': muted, 'curve-style': 'bezier'}},
    ...endBandRules({
      color: fg, 'source-label': 'data(srcText)', 'target-label': 'data(tgtText)',
      'source-text-offset': 'data(srcOff)', 'target-text-offset': 'data(tgtOff)', 'text-wrap': 'wrap',
      'source-text-rotation': 'autorotate', 'target-text-rotation': 'autorotate', 'text-events': 'yes',
      'text-background-color': bg, 'text-background-opacity': 0.85, 'text-background-padding': 1,
      'font-family': END_FAMILY, 'min-zoomed-font-size': 6,
    }, 10),
    // A down link: dashed and faint, and its middle label says "down" (not colour alone); an impaired
    // one: thicker, in the warning colour, with its impairment as words ("50% loss · 1 Mbit/s").
    // (The label's colour and weight would apply to the end labels too: they stay the plain ones.)
    {selector: 'edge[linkState="down"]', style: {'line-style': 'dashed', 'line-dash-pattern': [7, 5], 'line-opacity': 0.5}},
    {selector: 'edge[?impaired]', style: {width: 3, 'line-color': css('--warn')}},
    // The middle label sits on the line, or beside the end labels when a short link leaves it no room (placeLink).
    {selector: 'edge.doc[midLabel != ""]', style: {label: 'data(midLabel)', color: fg, 'text-events': 'yes',
      'text-background-color': bg, 'text-background-opacity': 1, 'text-background-padding': 2, 'text-background-shape': 'roundrectangle',
      'font-family': 'system-ui, sans-serif', 'text-margin-x': 'data(midDx)', 'text-margin-y': 'data(midDy)', 'min-zoomed-font-size': 6,
      'text-wrap': 'wrap'}},
    {selector: '.warning', style: {'border-color': css('--warn'), 'line-color': css('--warn'), 'border-width': 3}},
    {selector: '.error', style: {'border-color': css('--error'), 'line-color': css('--error'), 'border-width': 4, 'border-style': 'solid'}},
    {selector: 'edge.error, edge.warning', style: {width: 4}},
    {selector: 'node:selected', style: {'overlay-color': accent, 'overlay-opacity': 0.18, 'overlay-padding': 6, 'border-color': accent}},
    {selector: 'edge:selected', style: {'line-color': accent, width: 4}},
    // The link handle: its size is set for the zoom (the same on screen at every zoom: placeHandle).
    {selector: '.eh-handle', style: {shape: 'ellipse', width: HANDLE, height: HANDLE, 'background-color': accent, 'border-width': 2,
      'border-color': bg, label: '', 'overlay-opacity': 0, 'z-index': 10}},
    {selector: '.eh-ghost-edge, .eh-preview', style: {'line-color': accent, 'line-style': 'dashed', width: 2, 'source-label': '', 'target-label': ''}},
    {selector: '.eh-ghost-node', style: {opacity: 0}},
    {selector: '.eh-target', style: {'border-color': accent, 'border-width': 4}},
  ];
}

export class Canvas {
  // kinds: the config's list of kinds; defaultKind: the kind of a node that says none.
  constructor(container, callbacks, {kinds, defaultKind}) {
    this.container = container;
    this.cb = callbacks; // {onAddLink(a,b), onMove({name:{x,y}}), onSelect(), onDrop(kind, pos), onTooltip(ele|null, evt)}
    this.kinds = kinds;
    this.defaultKind = defaultKind;
    this.showLabels = true;
    // Each kind's size and shape, for placing labels and the handle without asking Cytoscape's style (which a
    // batch has not computed yet for what it adds).
    this.kindGeometry = new Map((kinds || []).map((k) => [k.name, {width: k.size.width, height: k.size.height, shape: k.shape}]));
    this.cy = cytoscape({
      container, style: stylesheet(kinds), minZoom: 0.05, maxZoom: 4,
      boxSelectionEnabled: true, selectionType: 'single',
    });
    this.endBand = endBand(1); // what the links' ends say and in which font (canvas-labels.js): by zoom
    this.band = nameBand(1); // the nodes' names' font: by zoom
    this.cy.on('viewport', () => this.updateGrid());
    this.cy.on('zoom', () => this.zoomChanged());
    this.updateGrid();
    this.setupHandle();
    this.setupWheel();
    this.setupRim();
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
    // A tooltip goes with its cause: when its node is grabbed or dragged, and when the view pans or zooms
    // (the editor's refresh() takes care of the problems and the document changing: canvas-tip.js).
    this.cy.on('grab drag', 'node.doc', () => this.cb.onTooltip(null));
    this.cy.on('viewport', () => this.cb.onTooltip(null));
    container.addEventListener('dragover', (e) => { if (e.dataTransfer.types.includes('application/x-topolab-kind')) e.preventDefault(); });
    container.addEventListener('drop', (e) => {
      const kind = e.dataTransfer.getData('application/x-topolab-kind');
      if (!kind) return;
      e.preventDefault();
      this.cb.onDrop(kind, this.modelPosition(e.clientX, e.clientY));
    });
    // A moved node: its links' labels are placed again (clear of it and of the node at the other end).
    this.cy.on('position', 'node.doc', (e) => this.schedulePlacement(e.target.connectedEdges('.doc')));
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

  // The link handle (edgehandles): a ● at the top right of the node under the mouse, else of the one selected
  // node, the same size on screen at every zoom; dragging it onto another node links the two.
  setupHandle() {
    const cy = this.cy;
    this.eh = cy.edgehandles({
      canConnect: (s, t) => t.hasClass('doc') && !s.same(t),
      edgeParams: () => ({classes: 'eh-temp'}), hoverDelay: 50, snap: true, snapThreshold: 20,
    });
    this.handle = null;
    this.handleOwner = null;
    this.hovered = null; // the document node under the mouse
    this.overHandle = false;
    cy.on('mouseover', 'node.doc', (e) => { this.hovered = e.target; clearTimeout(this.settleTimer); this.placeHandle(e.target); });
    cy.on('mouseout', 'node.doc', (e) => { if (e.target.same(this.hovered)) this.hovered = null; this.settleHandle(); });
    cy.on('mouseover', 'node.eh-handle', () => { this.overHandle = true; clearTimeout(this.settleTimer); });
    cy.on('mouseout', 'node.eh-handle', () => { this.overHandle = false; this.settleHandle(); });
    cy.on('grab', 'node.doc', () => this.hideHandle());
    cy.on('free', 'node.doc', () => this.settleHandle(0));
    cy.on('select unselect', 'node.doc', () => this.settleHandle(0));
    cy.on('position', 'node.doc', (e) => { if (this.handle && e.target.same(this.handleOwner)) this.placeHandle(e.target); });
    cy.on('tapstart', 'node.eh-handle', () => { if (this.handleOwner) this.eh.start(this.handleOwner); });
    cy.on('ehstop', () => { this.overHandle = false; this.hideHandle(); this.settleHandle(0); });
    cy.on('ehcomplete', (event, source, target, added) => {
      added.remove();
      this.cb.onAddLink(source.data('name'), target.data('name'));
    });
  }

  kindOf(node) {
    return this.kindGeometry.get(node.data('kind')) || {width: 40, height: 40, shape: 'round-rectangle'};
  }

  placeHandle(node) {
    if (this.eh.active || node.removed() || node.grabbed()) return;
    this.handleOwner = node;
    const z = this.cy.zoom(), k = this.kindOf(node), p = node.position();
    // At the node's top right corner, a little outside it (3 px of it over the node, whatever the zoom).
    const out = Math.max(0, HANDLE / 2 - 3) / z / Math.SQRT2;
    const pos = {x: p.x + k.width / 2 + out, y: p.y - k.height / 2 - out};
    if (!this.handle || this.handle.removed()) {
      this.handle = this.cy.add({group: 'nodes', data: {id: '__handle__'}, position: pos, classes: 'eh-handle', grabbable: false, selectable: false});
    } else this.handle.position(pos);
    if (this.handle.data('zoom') !== z) {
      this.handle.data('zoom', z);
      this.handle.style({width: HANDLE / z, height: HANDLE / z, 'border-width': 2 / z});
    }
  }

  hideHandle() {
    if (this.handle) { this.handle.remove(); this.handle = null; }
    this.handleOwner = null;
  }

  // Where the handle belongs once the mouse has settled: on the node under it, else on the one selected node.
  settleHandle(delay = 250) {
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      if (this.eh.active || this.overHandle) return;
      const sel = this.cy.nodes('.doc:selected');
      const node = this.hovered && this.hovered.inside() ? this.hovered : sel.length === 1 ? sel[0] : null;
      if (node && !node.grabbed()) this.placeHandle(node); else this.hideHandle();
    }, delay);
  }

  // The mouse wheel zooms by the distance scrolled: one notch (100 px) by WHEEL_NOTCH, whichever the device.
  // Cytoscape's own wheel zoom guesses the device from its first events (a mouse notch then zooms by 4.5 %,
  // and by 2.7 % after the fourth), and a wheelSensitivity big enough for a mouse makes a touchpad race.
  // Caught on its way down (capture, on the canvas's wrapper): Cytoscape's handler never sees the wheel.
  setupWheel() {
    const wrap = this.container.parentElement || this.container;
    wrap.addEventListener('wheel', (e) => {
      if (!this.container.contains(e.target)) return;
      e.preventDefault();
      e.stopPropagation();
      const cy = this.cy;
      if (!cy.zoomingEnabled() || !cy.userZoomingEnabled() || this.eh.active || cy.nodes(':grabbed').nonempty()) return;
      let dy = e.deltaY;
      if (e.deltaMode === 1) dy *= 33; // lines
      else if (e.deltaMode === 2) dy *= cy.height(); // pages
      if (e.ctrlKey) dy *= 3; // a touchpad's pinch comes as small wheel steps with Ctrl
      const f = Math.min(1.25, Math.max(1 / 1.25, Math.pow(WHEEL_NOTCH, -dy / 100)));
      const r = this.container.getBoundingClientRect();
      cy.zoom({level: cy.zoom() * f, renderedPosition: {x: e.clientX - r.left, y: e.clientY - r.top}});
    }, {capture: true, passive: false});
  }

  // Is the model position `pos` on the node's rim: inside its outline, within RING screen px of it (at most a
  // quarter of the node)? From there a drag links; from the middle it moves the node.
  onRim(node, pos) {
    const k = this.kindOf(node), p = node.position();
    const dx = Math.abs(pos.x - p.x), dy = Math.abs(pos.y - p.y);
    const ring = Math.min(RING / this.cy.zoom(), 0.25 * Math.min(k.width, k.height));
    const reach = (a, b) => {
      if (a <= 0 || b <= 0) return Infinity;
      if (k.shape === 'ellipse') return Math.hypot(dx / a, dy / b);
      if (k.shape === 'diamond') return dx / a + dy / b;
      return Math.max(dx / a, dy / b);
    };
    return reach(k.width / 2, k.height / 2) <= 1.02 && reach(k.width / 2 - ring, k.height / 2 - ring) > 1;
  }

  // Dragging from a node's rim draws a link (as from its handle), instead of moving the node.
  setupRim() {
    const cy = this.cy;
    let pending = null, grabify = null;
    const restore = () => {
      pending = null;
      if (grabify !== null) { cy.autoungrabify(grabify); grabify = null; }
    };
    const linking = () => this.eh.enabled && !this.eh.drawMode && !this.eh.active;
    cy.on('mousemove', 'node.doc', (e) => {
      this.container.style.cursor = linking() && this.onRim(e.target, e.position) ? 'crosshair' : '';
    });
    cy.on('mouseout', 'node.doc', () => { this.container.style.cursor = ''; });
    // Before Cytoscape's own mousedown (capture): the node must not be grabbed when the drag is a link.
    this.container.addEventListener('mousedown', (e) => {
      const node = this.hovered;
      if (e.button !== 0 || e.shiftKey || e.ctrlKey || e.metaKey || !node || node.removed() || !linking()) return;
      if (!this.onRim(node, this.modelPosition(e.clientX, e.clientY))) return;
      pending = node;
      grabify = cy.autoungrabify();
      cy.autoungrabify(true);
    }, true);
    cy.on('tapstart', 'node.doc', (e) => { if (pending && e.target.same(pending)) this.eh.start(pending); });
    cy.on('ehstop', restore);
    window.addEventListener('mouseup', () => setTimeout(() => { if (!this.eh.active) restore(); }, 0), true);
  }

  setLinkMode(on) {
    if (on) this.eh.enableDrawMode(); else this.eh.disableDrawMode();
    this.cy.autoungrabify(on);
  }

  setLabels(on) {
    this.showLabels = on;
    this.placeLabels(this.cy.edges('.doc'));
  }

  // A new zoom: the names' font band and the links' end labels' band follow it (classes on every element, only
  // when either changes: restyling a thousand elements is felt), and so does the handle's size.
  zoomChanged() {
    const z = this.cy.zoom();
    const band = nameBand(z), ends = endBand(z);
    if (band !== this.band || ends !== this.endBand) {
      const bandChanged = band !== this.band, endsChanged = ends !== this.endBand;
      this.band = band;
      this.endBand = ends;
      const nodes = this.cy.nodes('.doc');
      this.cy.batch(() => {
        if (bandChanged) {
          nodes.removeClass(NAME_BAND_CLASSES);
          if (nameBandClass(band)) nodes.addClass(nameBandClass(band));
        }
        if (endsChanged) this.cy.edges('.doc').removeClass(END_BAND_CLASSES).addClass(`eb${ends}`);
        this.placeLabels(this.cy.edges('.doc'));
      });
      // Cytoscape (3.34) keeps a name's old bounding box through a font change made while it zooms, and draws the
      // bigger name clipped to it: forget the boxes (what moving a node does).
      if (bandChanged && nodes.dirtyBoundingBoxCache) nodes.dirtyBoundingBoxCache();
      if (endsChanged && nodes.dirtyBoundingBoxCache) this.cy.edges('.doc').dirtyBoundingBoxCache();
    }
    if (this.handle && this.handleOwner) this.placeHandle(this.handleOwner);
  }

  // Place the labels of `edges` (every link when null) on the next frame, once for all the changes until then
  // (a drag moves a node many times a frame; a sync and a fit come together).
  schedulePlacement(edges) {
    if (edges === null) this.pendingAll = true;
    else if (!this.pendingAll) { this.pending = this.pending || new Set(); edges.forEach((e) => this.pending.add(e)); }
    if (this.placeFrame) return;
    this.placeFrame = requestAnimationFrame(() => {
      const all = this.pendingAll, some = this.pending;
      this.placeFrame = null; this.pendingAll = false; this.pending = null;
      this.placeLabels(all ? this.cy.edges('.doc') : this.cy.collection([...(some || [])]));
    });
  }

  // What is scheduled for the next frame (placing labels, leaving out crowded names), done now: opening a
  // drawing, so that its first frame styles each element once, as it will stay, not again a frame later.
  settleLabels() {
    if (this.placeFrame) {
      cancelAnimationFrame(this.placeFrame);
      const all = this.pendingAll, some = this.pending;
      this.placeFrame = null; this.pendingAll = false; this.pending = null;
      this.placeLabels(all ? this.cy.edges('.doc') : this.cy.collection([...(some || [])]));
    }
    if (this.declutterFrame) {
      cancelAnimationFrame(this.declutterFrame);
      this.declutterFrame = null;
      this.declutter();
    }
  }

  // What each link's ends say and where they sit, and where its middle label goes (canvas-labels.js).
  placeLabels(edges) {
    const {level: shown, font} = endBandInfo(this.endBand);
    const level = this.showLabels ? shown : 'far';
    const nameSize = nameFont(this.band);
    const geom = (n) => { const k = this.kindOf(n), p = n.position(); return {...k, x: p.x, y: p.y, label: n.data('label')}; };
    // Every link at the nodes concerned is placed (the labels of one node's links are separated together).
    const nodes = edges.connectedNodes();
    const all = nodes.connectedEdges('.doc');
    const placed = new Map(), atNode = new Map();
    all.forEach((e) => {
      if (e.removed()) return;
      const texts = {source: {near: e.data('srcNear'), mid: e.data('srcMid')}, target: {near: e.data('tgtNear'), mid: e.data('tgtMid')}};
      const {ends, ...data} = placeLink(geom(e.source()), geom(e.target()), texts, e.data('midLabel') || '', level, font, nameSize);
      placed.set(e.id(), data);
      for (const end of ends) {
        const node = end.end === 'src' ? e.data('source') : e.data('target');
        end.link = e.id();
        if (!atNode.has(node)) atNode.set(node, []);
        atNode.get(node).push(end);
      }
    });
    for (const ends of atNode.values()) {
      if (ends.length < 2) continue;
      for (const end of separateEnds(ends)) {
        const data = placed.get(end.link);
        if (end.dropped) data[`${end.end}Text`] = '';
        else data[`${end.end}Off`] = Math.round((end.dist - end.edge) * 10) / 10;
        if (end.text) data[`${end.end}Text`] = end.text;
      }
    }
    this.cy.batch(() => all.forEach((e) => {
      const data = placed.get(e.id());
      if (data) for (const [k, v] of Object.entries(data)) if (e.data(k) !== v) e.data(k, v);
    }));
    this.scheduleDeclutter();
  }

  // Names that would cover each other: the lower-ranked ones (fewer links) are left out until the view is
  // zoomed in enough for them (canvas-labels.js); once a frame at most, whatever asked for it.
  scheduleDeclutter() {
    if (this.declutterFrame) return;
    this.declutterFrame = requestAnimationFrame(() => {
      this.declutterFrame = null;
      this.declutter();
    });
  }

  // Leave out the names that would cover a better-ranked one's at this zoom (canvas-labels.js crowdedNames).
  declutter() {
    const nodes = this.cy.nodes('.doc');
    const size = nameFont(this.band);
    const hidden = crowdedNames(nodes.map((n) => {
      const p = n.position();
      // A node saying why it failed comes first, then by links.
      const label = n.data('label') || '';
      return {id: n.id(), x: p.x, y: p.y, height: this.kindOf(n).height, label, rank: n.degree(false) + (label.includes('\n') ? 1e6 : 0)};
    }), size);
    this.cy.batch(() => nodes.forEach((n) => {
      const crowded = hidden.has(n.id());
      if (crowded !== n.hasClass('name-crowded')) n.toggleClass('name-crowded', crowded);
    }));
  }

  // Again from the page's colours (the colour scheme changed).
  restyle() { this.cy.style(stylesheet(this.kinds)); }

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
        srcNear: endText(a, 'near'), srcMid: endText(a, 'mid'), tgtNear: endText(b, 'near'), tgtMid: endText(b, 'mid'), linkState: l.state || 'up',
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
          // What the placement computes starts empty (placeLabels below fills it in).
          const placed = w.group === 'edges' ? {srcText: '', tgtText: '', srcOff: 0, tgtOff: 0, midDx: 0, midDy: 0} : {};
          const cls = w.group === 'edges' ? ` eb${this.endBand}` : (nameBandClass(this.band) ? ` ${nameBandClass(this.band)}` : '');
          add.push({...w, data: {...w.data, ...placed}, classes: `doc${cls}`, selected: selected.has(id)});
        }
      }
      // Nodes first, so that edges find their ends.
      cy.add(add.filter((a) => a.group === 'nodes'));
      cy.add(add.filter((a) => a.group === 'edges'));
      for (const id of selected) { const e = cy.getElementById(id); if (e.nonempty() && !e.selected()) e.select(); }
    });
    // On the next frame: a sync is often followed at once by a fit (opening the editor), whose zoom decides.
    this.schedulePlacement(null);
    if (this.handleOwner && this.handleOwner.removed()) this.settleHandle(0);
    return unplaced;
  }

  // Automatic layout (layout.js): the whole drawing when `ids` is empty or names every node, as the shape
  // of its graph asks (a ring, a tree, tiers, else force-directed, by fCoSE); else only the nodes `ids`,
  // each beside its neighbours, the others staying put. Calls back with the new positions by node name,
  // and the shape found ('near' for the second kind).
  layout(ids, done) {
    // cytoscape-fcose is a classic script (editor.html): it registers with this module's Cytoscape on first use.
    if (!Canvas.fcose) { cytoscape.use(window.cytoscapeFcose); Canvas.fcose = true; }
    const cy = this.cy;
    const nodes = cy.nodes('.doc'), edges = cy.edges('.doc');
    const big = nodes.length > 150;
    // A name is about 7 px a character at the nodes' font (estimated: measuring hundreds of labels is slow).
    const labelWidth = (n) => Math.max(0, ...String(n.data('label') || '').split('\n').map((l) => l.length)) * 7 + 8;
    const graph = {nodes: nodes.map((n) => ({id: n.id(), width: big ? 40 : n.width(), label: labelWidth(n)})),
      edges: edges.map((e) => [e.data('source'), e.data('target')])};
    const byName = (pos) => Object.fromEntries(Object.entries(pos).map(([id, p]) => [cy.getElementById(id).data('name'), p]));
    if (ids && ids.length && ids.length < nodes.length) {
      const moving = new Set(ids), placed = {};
      nodes.forEach((n) => { if (!moving.has(n.id())) placed[n.id()] = {...n.position()}; });
      const pos = placeNear(graph, placed, ids.filter((id) => cy.getElementById(id).nonempty()), this.freeSpot());
      cy.batch(() => { for (const [id, p] of Object.entries(pos)) cy.getElementById(id).position(p); });
      done(byName(pos), 'near');
      return;
    }
    const steps = arrange(graph);
    const put = (pos) => cy.batch(() => { for (const [id, p] of Object.entries(pos)) cy.getElementById(id).position(p); });
    if (steps.preset) put(steps.preset);
    const finish = () => {
      const pos = {};
      nodes.forEach((n) => { const p = n.position(); pos[n.id()] = {x: Math.round(p.x), y: Math.round(p.y)}; });
      if (steps.fan) Object.assign(pos, fanPendants(graph, steps.fan, pos));
      Object.assign(pos, separate(pos)); // no node over another, whatever fCoSE and the fans did
      put(pos);
      done(byName(pos), steps.shape);
    };
    if (!steps.layout) { finish(); return; }
    const opts = {...steps.layout};
    if (opts.roots) opts.roots = cy.collection(opts.roots.map((id) => cy.getElementById(id)));
    const moving = steps.on === 'core' ? nodes.filter((n) => !(n.id() in steps.fan)) : nodes;
    const l = moving.union(moving.edgesWith(moving)).layout(opts);
    l.one('layoutstop', finish);
    l.run();
  }

  // Fit every node into the part of the canvas no overlay covers (the view tools, hints: layout.js freeArea).
  // From the nodes' positions alone: measuring hundreds of labels for a bounding box costs more than drawing them.
  fit() {
    const nodes = this.cy.nodes('.doc');
    if (nodes.empty()) return;
    let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
    nodes.forEach((n) => { const p = n.position(); x1 = Math.min(x1, p.x); y1 = Math.min(y1, p.y); x2 = Math.max(x2, p.x); y2 = Math.max(y2, p.y); });
    // Room for the node itself and its label on the right.
    x1 -= 60; x2 += 170; y1 -= 50; y2 += 50;
    const box = this.container.getBoundingClientRect();
    const covers = [...(this.container.parentElement || {children: []}).children]
      .filter((e) => e !== this.container && !e.hidden && !e.classList.contains('tooltip') && e.getClientRects().length)
      .map((e) => e.getBoundingClientRect()).map((r) => ({x1: r.left, y1: r.top, x2: r.right, y2: r.bottom}));
    const free = freeArea({x1: box.left, y1: box.top, x2: box.right, y2: box.bottom}, covers);
    const w = free.x2 - free.x1, h = free.y2 - free.y1;
    const zoom = Math.max(this.cy.minZoom(), Math.min(1, w / (x2 - x1), h / (y2 - y1)));
    const cx = free.x1 - box.left + w / 2, cy = free.y1 - box.top + h / 2;
    this.cy.viewport({zoom, pan: {x: cx - zoom * (x1 + x2) / 2, y: cy - zoom * (y1 + y2) / 2}});
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
