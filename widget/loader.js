// Crumb's loader. The server appends this to wasm-bindgen's no-modules glue
// (inside one function, so nothing leaks into the page) and serves both as
// crumb.js. It starts the stylesheet, the site config and the wasm module in
// parallel, then hands the config to the widget. __CRUMB_WASM__ and
// __CRUMB_CSS__ are replaced with content-hashed file names.
const s = document.currentScript, base = new URL(s.src).origin,
  site = s.getAttribute('data-site'), w = window, queued = [];
const css = document.createElement('link');
css.rel = 'stylesheet';
css.href = base + '/crumb/__CRUMB_CSS__';
const styled = new Promise((r) => { css.onload = css.onerror = r; });
document.head.appendChild(css);
w.crumb = { show: () => queued.push(1), consent: () => null };
Promise.all([
  fetch(base + '/v1/sites/' + site + '/config').then((r) => r.json()),
  wasm_bindgen({ module_or_path: fetch(base + '/crumb/__CRUMB_WASM__') }),
  styled,
]).then(([config]) => {
  const h = wasm_bindgen.start(config, base, site);
  if (!h) return;
  w.crumb.show = () => h.show();
  w.crumb.consent = () => h.consent();
  if (queued.length) h.show();
});
