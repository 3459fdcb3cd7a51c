// The canvas's tooltip: what an element under the mouse is about (a link in full, a node's failure, the
// problems the server found in it). It never outlives its cause: canvas.js hides it when the element is
// grabbed or dragged, when the view pans or zooms and when the element goes; the editor calls refresh()
// whenever the problems or the document change, and a tooltip with nothing left to say disappears.
import {linkTitle} from './canvas-labels.js';

export class CanvasTip {
  // el: the tooltip element (positioned in the canvas's wrapper); linesFor(ele) -> [string].
  constructor(el, linesFor) {
    this.el = el;
    this.linesFor = linesFor;
    this.ele = null;
    this.at = {x: 0, y: 0};
  }

  show(ele, evt) {
    if (!ele) { this.hide(); return; }
    this.ele = ele;
    this.at = (evt && evt.renderedPosition) || this.at;
    this.refresh();
  }

  hide() {
    this.ele = null;
    if (!this.el.hidden) this.el.hidden = true; // called on every step of a drag: no write when already hidden
  }

  refresh() {
    const ele = this.ele;
    if (!ele) return;
    const lines = ele.removed() ? [] : this.linesFor(ele);
    if (!lines.length) { this.hide(); return; }
    this.el.textContent = lines.join('\n');
    const wrap = this.el.parentElement.getBoundingClientRect();
    this.el.style.left = `${Math.max(0, Math.min(this.at.x + 16, wrap.width - 270))}px`;
    this.el.style.top = `${this.at.y + 16}px`;
    this.el.hidden = false;
  }
}

// What the tooltip says about a canvas element, from the editor's state: a link's full text first (its end
// labels shorten or hide by zoom), then a node's failure and every problem of the element.
// problemLine: problems.js's; lost: the node states that mean "stopped behind the engine's back".
export function tipLines(ed, ele, problemLine, lost) {
  const lines = [];
  if (ele.isNode()) {
    const name = ele.data('name');
    const st = ed.states[name];
    if (st && st.reason) lines.push(`${name} ${lost.includes(st.state) ? st.state : 'failed'}: ${st.reason}`);
    ed.problemsFor('node', (ed.doc.nodes || []).findIndex((n) => n.name === name)).forEach((p) => lines.push(problemLine(ed.doc, p)));
  } else {
    const link = (ed.doc.links || [])[ele.data('index')];
    if (link) lines.push(linkTitle(link));
    ed.problemsFor('link', ele.data('index')).forEach((p) => lines.push(problemLine(ed.doc, p)));
  }
  return lines;
}
