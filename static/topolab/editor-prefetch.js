// The editor's document, fetched while its libraries download: a classic script in the page's head
// (a file, as the Content-Security-Policy wants), given the document's address in data-document.
// editor.js awaits window.topolabInitial.
window.topolabInitial = fetch(document.currentScript.dataset.document,
  {credentials: 'same-origin', headers: {Accept: 'application/json'}});
