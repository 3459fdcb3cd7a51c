// Labels that never pile up (canvas.js draws with these). Three things, all in model units and computed
// here rather than left to Cytoscape, which places a link's end labels at a fixed distance whatever is there:
// - by zoom level, what a link end says: far, nothing; middle, its interface; near, interface and addresses,
//   in a font that shrinks in the drawing as the view zooms in (9 px or more on screen), so that zooming in
//   makes the room a short link lacked;
// - a node's name in a font that grows as the view zooms out, so that it stays readable (about 8 px or more
//   on screen) while the node is bigger than a few pixels, and goes when the node is a speck;
// - where each end label sits along its link (autorotated, on the line): just clear of the node and of
//   its name below it, worked out from the label's measured size; a link too short for both ends' text
//   says less (interface only, then nothing). The full text is always in the tooltip (linkTitle).

// The links' end labels: [from this zoom, level, font]. On screen: 10.5 to 14 px, 10 to 15, 10 to 15, 9 to 13.5,
// 7 to 12.6 px.
const END_BANDS = [[3, 'near', 3.5], [2, 'near', 5], [1.35, 'near', 7.5], [0.9, 'near', 10], [0.5, 'mid', 14], [0, 'far', 0]];
export const END_FAMILY = 'ui-monospace, monospace';
export const MID_FAMILY = 'system-ui, sans-serif';
export const NAME_FAMILY = 'system-ui, sans-serif';
export const NAME_MARGIN = 4; // between a node and its name below it
const NAME_MAX = 160; // a name's wrap width at font 12
const GAP = 3; // between a label and what it must clear
// A node's name: [from this zoom, in this font]. Below the last band the name's rendered size falls
// under the stylesheet's min-zoomed-font-size and Cytoscape skips it (40 px nodes are then under 7 px).
// Zoomed in, the font shrinks in the drawing as it does for the links' ends (12 to 18 px on screen): names that
// crowd each other at one zoom (crowdedNames) have the room to show once zoomed in.
const NAME_BANDS = [[3, 5], [2, 7], [1.4, 9], [0.7, 12], [0.5, 17], [0.35, 24], [0.25, 34], [0.18, 47]];
const PLAIN_NAME = 12; // the stylesheet's own name font: its band needs no class

// The index of the end labels' band for a zoom.
export function endBand(zoom) {
  const i = END_BANDS.findIndex(([z]) => zoom >= z);
  return i < 0 ? END_BANDS.length - 1 : i;
}

export function endBandInfo(band) {
  const [, level, font] = END_BANDS[band];
  return {level, font};
}

export const END_BAND_CLASSES = END_BANDS.map((_, i) => `eb${i}`).join(' ');

// Stylesheet rules for the end bands' classes (eb0, eb1...): the end labels' `style` (canvas.js) in the band's
// font, on the bands that show them only; a far link's font (its middle label's, if it has one) is `farFont`.
// A far link has no end label properties at all: Cytoscape styles and measures each property of each
// element, and a 500-node drawing opens zoomed out, with its 600 links far.
export function endBandRules(style, farFont) {
  return END_BANDS.map(([, level, font], i) => ({selector: `edge.eb${i}`,
    style: level === 'far' ? {'font-size': farFont} : {...style, 'font-size': font}}));
}

// The index of the name band for a zoom (NAME_BANDS.length: too small to name).
export function nameBand(zoom) {
  const i = NAME_BANDS.findIndex(([z]) => zoom >= z);
  return i < 0 ? NAME_BANDS.length : i;
}

export function nameFont(band) {
  return band < NAME_BANDS.length ? NAME_BANDS[band][1] : PLAIN_NAME;
}

// Stylesheet rules for the bands' classes (nb0, nb1...: the plain band and the hidden one keep the plain style).
export function nameBandRules() {
  return NAME_BANDS.map(([, font], i) => ({font, i})).filter(({font}) => font !== PLAIN_NAME).map(({font, i}) => ({
    selector: `node.nb${i}`, style: {
      'font-size': font, 'text-max-width': Math.round(NAME_MAX * font / 12), 'text-margin-y': NAME_MARGIN * font / 12}}));
}

export function nameBandClass(band) {
  return band < NAME_BANDS.length && NAME_BANDS[band][1] !== PLAIN_NAME ? `nb${band}` : '';
}

export const NAME_BAND_CLASSES = NAME_BANDS.map((_, i) => `nb${i}`).filter((_, i) => NAME_BANDS[i][1] !== PLAIN_NAME).join(' ');

// What a link end says at a level.
export function endText(ep, level) {
  if (!ep || level === 'far') return '';
  if (level === 'mid') return ep.interface || '';
  return [ep.interface || '', ...(ep.addresses || [])].filter(Boolean).join('\n');
}

// A link in full, for its tooltip: "r1 eth0 10.0.0.1/31 — r2 eth0 10.0.0.0/31".
export function linkTitle(link) {
  const ends = (link && link.endpoints) || [];
  return ends.map((e) => [e && e.node, e && e.interface, ...((e && e.addresses) || [])].filter(Boolean).join(' ')).join(' — ');
}

// --- measuring ---------------------------------------------------------------------------------------------

let ctx = null;
const widths = new Map();

function textWidth(text, size, family) {
  const key = `${size}|${family}|${text}`;
  let w = widths.get(key);
  if (w === undefined) {
    if (!ctx) ctx = document.createElement('canvas').getContext('2d');
    ctx.font = `${size}px ${family}`;
    w = Math.ceil(ctx.measureText(text).width);
    if (widths.size > 20000) widths.clear();
    widths.set(key, w);
  }
  return w;
}

// The box of a (possibly multi-line) text: as Cytoscape sizes it (a line is one font size high), with a
// little slack and the stylesheet's background padding.
export function textBox(text, size, family, maxWidth = Infinity) {
  if (!text) return {w: 0, h: 0};
  let w = 0, lines = 0;
  for (const line of text.split('\n')) {
    const lw = textWidth(line, size, family);
    lines += Math.max(1, Math.ceil(lw / maxWidth));
    w = Math.max(w, Math.min(lw, maxWidth));
  }
  return {w: w + 4, h: lines * size * 1.15 + 4};
}

// --- geometry ----------------------------------------------------------------------------------------------

// How far from a node's centre its outline is along the unit direction (ux, uy), never more than it is:
// a label placed from this distance on cannot come closer than planned.
function outline(shape, a, b, ux, uy) {
  const ax = Math.abs(ux), ay = Math.abs(uy);
  const box = Math.min(ax ? a / ax : Infinity, ay ? b / ay : Infinity);
  if (shape === 'rectangle' || shape === 'round-rectangle' || shape === 'roundrectangle' || shape === 'square') return box;
  if (shape === 'ellipse') return 1 / Math.hypot(ux / a, uy / b);
  if (shape === 'diamond') return 1 / (ax / a + ay / b);
  return Math.min(box, 1 / (ax / a + ay / b)); // other polygons: no closer than a diamond's
}

// Where a ray from the origin along (ux, uy) leaves the box [x1,x2]×[y1,y2] (null when it misses it).
function exitAlong(bx, ux, uy) {
  let t0 = -Infinity, t1 = Infinity;
  for (const [u, lo, hi] of [[ux, bx.x1, bx.x2], [uy, bx.y1, bx.y2]]) {
    if (Math.abs(u) < 1e-9) { if (lo > 0 || hi < 0) return null; continue; }
    const a = lo / u, b = hi / u;
    t0 = Math.max(t0, Math.min(a, b)); t1 = Math.min(t1, Math.max(a, b));
  }
  return t1 >= Math.max(t0, 0) ? t1 : null;
}

// A node as an obstacle: its body and its name's box below it, relative to its centre.
export function nodeObstacles(node, nameFontSize) {
  const w = node.width, h = node.height;
  const boxes = [{x1: -w / 2, x2: w / 2, y1: -h / 2, y2: h / 2}];
  if (node.label && nameFontSize) {
    const nb = textBox(node.label, nameFontSize, NAME_FAMILY, NAME_MAX * nameFontSize / 12);
    const top = h / 2 + NAME_MARGIN * nameFontSize / 12;
    boxes.push({x1: -nb.w / 2, x2: nb.w / 2, y1: top, y2: top + nb.h});
  }
  return boxes;
}

// For one end of a link: the distance from the node's outline at which to centre a label of size
// (lw along the link, lh across it), so that its axis-aligned box clears the node and its name.
// Returns {offset, reach}: reach is how far from the node's centre the label's far side gets.
function endPlacement(node, obstacles, ux, uy, lw, lh) {
  const hx = (Math.abs(ux) * lw + Math.abs(uy) * lh) / 2; // the rotated label's half extents
  const hy = (Math.abs(uy) * lw + Math.abs(ux) * lh) / 2;
  let t = 0;
  for (const b of obstacles) {
    const e = exitAlong({x1: b.x1 - hx - GAP, x2: b.x2 + hx + GAP, y1: b.y1 - hy - GAP, y2: b.y2 + hy + GAP}, ux, uy);
    if (e !== null) t = Math.max(t, e);
  }
  const edge = outline(node.shape, node.width / 2, node.height / 2, ux, uy);
  const offset = Math.max(t - edge, lw / 2 + GAP);
  return {offset: Math.round(offset * 10) / 10, reach: edge + offset + lw / 2, edge, hx, hy, lw};
}

// Everything canvas.js needs to draw a link's labels at a level and end font size: the text and offset of
// each end and the shift of its middle label. `s` and `t`: {x, y, width, height, shape, label} of its two
// nodes; texts: {source: {near, mid}, target: {near, mid}}; mid: the middle label's text. `ends` (not for
// drawing): each shown end label's geometry, for separateEnds().
export function placeLink(s, t, texts, mid, level, endFont, nameFontSize) {
  const out = {srcText: '', tgtText: '', srcOff: 0, tgtOff: 0, midDx: 0, midDy: 0, ends: []};
  const dx = t.x - s.x, dy = t.y - s.y;
  const len = Math.hypot(dx, dy) || 1;
  const ux = dx / len, uy = dy / len;
  // An impaired or down link's labels all take the middle label's family (Cytoscape has one per element).
  const family = mid ? MID_FAMILY : END_FAMILY;
  let across = 0, used = 0;
  if (level !== 'far') {
    const so = nodeObstacles(s, nameFontSize), to = nodeObstacles(t, nameFontSize);
    const tries = level === 'near' ? ['near', 'mid'] : ['mid'];
    for (const which of tries) {
      const st = texts.source[which] || '', tt = texts.target[which] || '';
      if (!st && !tt) continue;
      const sb = textBox(st, endFont, family), tb = textBox(tt, endFont, family);
      const sp = st ? endPlacement(s, so, ux, uy, sb.w, sb.h) : {offset: 0, reach: 0};
      const tp = tt ? endPlacement(t, to, -ux, -uy, tb.w, tb.h) : {offset: 0, reach: 0};
      if (sp.reach + tp.reach + GAP <= len) {
        Object.assign(out, {srcText: st, tgtText: tt, srcOff: sp.offset, tgtOff: tp.offset});
        // How far out each may move (to clear another link's label at the same node): up to the other end's;
        // and, for a full label, the interface alone, should even that not clear the others.
        const shorter = (node, obstacles, vx, vy, text, other) => {
          if (which !== 'near' || !text) return null;
          const b = textBox(text, endFont, family), p = endPlacement(node, obstacles, vx, vy, b.w, b.h);
          return {text, hx: p.hx, hy: p.hy, dist: p.edge + p.offset, max: len - other - GAP - p.lw / 2};
        };
        if (st) out.ends.push({end: 'src', ux, uy, hx: sp.hx, hy: sp.hy, edge: sp.edge, dist: sp.edge + sp.offset,
          max: len - tp.reach - GAP - sp.lw / 2, short: shorter(s, so, ux, uy, texts.source.mid, tp.reach)});
        if (tt) out.ends.push({end: 'tgt', ux: -ux, uy: -uy, hx: tp.hx, hy: tp.hy, edge: tp.edge, dist: tp.edge + tp.offset,
          max: len - sp.reach - GAP - tp.lw / 2, short: shorter(t, to, -ux, -uy, texts.target.mid, sp.reach)});
        across = Math.max(sb.h, tb.h);
        used = Math.max(sp.reach, tp.reach);
        break;
      }
    }
  }
  if (mid) {
    // The middle label (horizontal) stays on the line while the end labels leave it room, else moves
    // beside them: to the right of an upright link, above a flat one.
    const mb = textBox(mid, endFont || 10, MID_FAMILY);
    const half = (ax, ay) => (Math.abs(ax) * mb.w + Math.abs(ay) * (mb.h + 2)) / 2;
    if (used && len / 2 - used < half(ux, uy) + GAP) {
      let nx = -uy, ny = ux;
      if (ny > 0 || (ny === 0 && nx < 0)) { nx = -nx; ny = -ny; }
      const off = half(nx, ny) + across / 2 + GAP;
      out.midDx = Math.round(nx * off); out.midDy = Math.round(ny * off);
    }
  }
  return out;
}

// The end labels of different links at one node must not cover each other either: `ends` (placeLink's, of
// every link at the node) keep their place nearest first; each later one that overlaps one kept moves out
// along its link while its link has room, else says only its interface (`text`), else nothing (`dropped`).
// Sets each end's `dist` (from the node's centre). Boxes are axis-aligned, as Cytoscape's bounding boxes.
export function separateEnds(ends) {
  const kept = [];
  const box = (e, d) => ({x1: e.ux * d - e.hx, x2: e.ux * d + e.hx, y1: e.uy * d - e.hy, y2: e.uy * d + e.hy});
  const hits = (a, b) => a.x1 < b.x2 + GAP && b.x1 < a.x2 + GAP && a.y1 < b.y2 + GAP && b.y1 < a.y2 + GAP;
  const clear = (e, g) => {
    let d = g.dist;
    while (d <= g.max && kept.some((k) => hits(box({...e, ...g}, d), box(k, k.dist)))) d += 2;
    return d <= g.max ? d : null;
  };
  for (const e of [...ends].sort((a, b) => a.dist - b.dist)) {
    let d = clear(e, e);
    if (d === null && e.short) {
      d = clear(e, e.short);
      if (d !== null) Object.assign(e, {text: e.short.text, hx: e.short.hx, hy: e.short.hy});
    }
    if (d === null) { e.dropped = true; continue; }
    e.dist = d;
    kept.push(e);
  }
  return ends;
}

// --- names that do not cover each other ----------------------------------------------------------------------

// Which nodes' names to leave out so that no two drawn names overlap (a crowd of names, as 500 nodes at the fit
// zoom make, reads as none). `nodes`: [{id, x, y, height, label, rank}] in model units, `size` the names' font.
// Greedy, highest rank first (the editor ranks by links: routers before their hosts), then by id: a name is kept
// when its box touches no kept name's box; a uniform grid keeps it near linear. Returns the ids left out.
export function crowdedNames(nodes, size) {
  const items = nodes.filter((n) => n.label).map((n) => {
    const b = textBox(n.label, size, NAME_FAMILY, NAME_MAX * size / 12);
    const top = n.y + n.height / 2 + NAME_MARGIN * size / 12;
    const pad = Math.max(2, size * 0.25); // Cytoscape's own label box is a little wider than the text's
    return {id: n.id, rank: n.rank || 0, x1: n.x - b.w / 2 - pad, x2: n.x + b.w / 2 + pad, y1: top - pad, y2: top + b.h + pad};
  });
  items.sort((a, b) => (b.rank - a.rank) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const cell = Math.max(1, size * 8);
  const grid = new Map(), hidden = new Set();
  const cells = (it, visit) => {
    for (let gx = Math.floor(it.x1 / cell); gx <= Math.floor(it.x2 / cell); gx++) {
      for (let gy = Math.floor(it.y1 / cell); gy <= Math.floor(it.y2 / cell); gy++) if (visit(`${gx},${gy}`) === false) return false;
    }
    return true;
  };
  for (const it of items) {
    const free = cells(it, (key) => !(grid.get(key) || []).some((o) => it.x1 < o.x2 && o.x1 < it.x2 && it.y1 < o.y2 && o.y1 < it.y2));
    if (!free) { hidden.add(it.id); continue; }
    cells(it, (key) => { if (!grid.has(key)) grid.set(key, []); grid.get(key).push(it); });
  }
  return hidden;
}
