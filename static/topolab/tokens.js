// The API tokens page: a new token's secret (shown once, after the redirect that made it) is selected
// when focused, and its Copy button puts it on the clipboard, saying so. Where the clipboard API is
// refused (a page over plain http on another host is not a secure context), the text is selected and
// copied the old way, and if even that fails the page says to press Ctrl-C: the selection is ready.
const secret = document.getElementById('token-secret-value');
const copy = document.getElementById('token-copy');
const said = document.getElementById('token-copied');

secret?.addEventListener('focus', (e) => e.target.select());

async function toClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return true; } catch { /* refused: the old way below */ }
  }
  secret.focus();
  secret.select();
  try { return document.execCommand('copy'); } catch { return false; }
}

copy?.addEventListener('click', async () => {
  const done = await toClipboard(secret.value);
  if (!done) { secret.focus(); secret.select(); }
  said.textContent = done ? 'Copied' : 'Selected: press Ctrl-C to copy';
});
