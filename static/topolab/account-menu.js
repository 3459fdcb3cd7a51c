// The header's account menu (templates/base.html): a button with the user's name that opens a short list
// (API tokens, API docs, the format, Change password, Sign out). A disclosure, not an ARIA menu: its items
// stay the links and the button they are, so Tab walks them as anywhere else; the arrow keys move too.
// Enter or Space on the button opens it (a button's own click), Escape closes it and gives the button the
// focus back, and so does a click elsewhere or the focus leaving it.

const toggle = document.getElementById('account-toggle');
const items = document.getElementById('account-items');
const root = document.getElementById('account-menu');

function entries() {
  return [...items.querySelectorAll('a, button')];
}

function setOpen(open, {focus = null} = {}) {
  items.hidden = !open;
  toggle.setAttribute('aria-expanded', String(open));
  if (focus === 'first') entries()[0]?.focus();
  else if (focus === 'last') entries().at(-1)?.focus();
  else if (focus === 'toggle') toggle.focus();
}

if (toggle && items && root) {
  toggle.addEventListener('click', () => setOpen(items.hidden));
  toggle.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); setOpen(true, {focus: 'first'}); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); setOpen(true, {focus: 'last'}); }
  });
  root.addEventListener('keydown', (e) => {
    if (items.hidden) return;
    if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); setOpen(false, {focus: 'toggle'}); return; }
    if ((e.key !== 'ArrowDown' && e.key !== 'ArrowUp') || e.target === toggle) return;  // the toggle's arrows: above
    const list = entries();
    const at = list.indexOf(document.activeElement);
    if (at < 0) return;
    e.preventDefault();
    list[(at + (e.key === 'ArrowDown' ? 1 : list.length - 1)) % list.length].focus();
  });
  // Closed by a click anywhere else, or by Tab leaving it (focusout to something outside).
  document.addEventListener('pointerdown', (e) => { if (!items.hidden && !root.contains(e.target)) setOpen(false); });
  root.addEventListener('focusout', (e) => { if (!items.hidden && e.relatedTarget && !root.contains(e.relatedTarget)) setOpen(false); });
}
