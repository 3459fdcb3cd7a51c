// Small helpers that build and paint page elements; the REST client is api.js.

// A few words for how long ago an ISO time was.
export function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString(undefined, {year: 'numeric', month: 'short', day: 'numeric'});
}

// An element with attributes (class, text, on<event>, dataset, the rest as attributes) and children.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// A drawn icon (an SVG of the .icon class, 16 x 16, hidden from screen readers: the button's label says it),
// one element per [tag, attributes] shape: drawn, since many fonts lack such symbols and not every system
// draws emoji.
export function svgIcon(...shapes) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('aria-hidden', 'true');
  for (const [tag, attrs] of shapes) {
    const shape = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) shape.setAttribute(k, v);
    svg.append(shape);
  }
  return svg;
}

// A file input behind its label, which the keyboard works as a button (Enter or Space opens the picker):
// onFile(file) with each file picked. The input is emptied each time, so that the same file may be picked again.
export function pickFile(label, input, onFile) {
  label.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } });
  input.addEventListener('change', (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (file) onFile(file);
  });
}

// Paint a kind's icon (.kind-icon) with its kind's fill in both themes; topolab.css picks the one
// its colour scheme uses. Custom properties through the CSSOM, not a style attribute, so that a
// Content-Security-Policy without 'unsafe-inline' allows them.
export function paintKind(icon, kind) {
  if (!kind) return icon;
  icon.style.setProperty('--kind-light', kind.colour.light);
  icon.style.setProperty('--kind-dark', kind.colour.dark);
  return icon;
}

// The icon of a kind from the registry (undefined for a kind it does not know: a plain square).
export function kindIcon(kind) {
  return paintKind(el('span', {class: kind ? `kind-icon shape-${kind.shape}` : 'kind-icon', 'aria-hidden': 'true'}), kind);
}

// Show one notice in ``box`` (replacing what it held): a sentence, something more (a list, a link),
// and a button that dismisses it; nothing at all when ``text`` is empty. ``level``: ok, info, error...
export function notice(box, text, level = 'ok', extra = null) {
  box.replaceChildren();
  if (!text) return;
  box.append(el('div', {class: `notice notice-${level}`}, el('p', {}, text), extra,
    el('button', {class: 'btn btn-small btn-quiet', 'aria-label': 'Dismiss', onclick: () => box.replaceChildren()}, '✕')));
}
