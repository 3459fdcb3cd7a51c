// Runs CommonJS files as classic scripts, for cytoscape-edgehandles' UMD build, which wants lodash's
// memoize and throttle as window._ (a file, as the Content-Security-Policy wants). Loaded before the
// first CommonJS file (it opens window.module) and after each one with data-export="NAME" (what the
// file exported becomes window._.NAME); data-last closes window.module after the last one.
(() => {
  const {export: name, last} = document.currentScript.dataset;
  if (name) (window._ ??= {})[name] = window.module.exports;
  if (last === undefined) window.module = {exports: {}};
  else delete window.module;
})();
