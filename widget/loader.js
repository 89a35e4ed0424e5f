// Crumb's loader. The xtask appends this to wasm-bindgen's no-modules glue
// (inside one function, so nothing leaks into the page) and serves both as
// crumb.js. It starts the stylesheet, the site config (in the page's
// language) and the wasm module in parallel, then hands the config to the
// widget. It also owns the page's event listeners and the network, so no
// closure crosses into the wasm (see widget/src/api.rs): events go to
// h.on(kind, event), and what comes back says what to do next.
// __CRUMB_WASM__ and __CRUMB_CSS__ are replaced with content-hashed names.
const d = document, s = d.currentScript, base = new URL(s.src).origin,
  api = base + '/v1/sites/' + s.getAttribute('data-site'), w = window, queued = [];
const css = d.createElement('link');
css.rel = 'stylesheet';
css.href = base + '/crumb/__CRUMB_CSS__';
const styled = new Promise((r) => { css.onload = css.onerror = r; });
d.head.appendChild(css);
w.crumb = { show: () => queued.push(1), consent: () => null };
const lang = d.documentElement.lang + ',' + navigator.language;
Promise.all([
  fetch(api + '/widget?lang=' + encodeURIComponent(lang)).then((r) => r.text()),
  wasm_bindgen(fetch(base + '/crumb/__CRUMB_WASM__')),
  styled,
]).then(([config]) => {
  const h = wasm_bindgen, show = () => h.on(7);
  const flags = h.start(config, d, location.protocol == 'https:', location.hostname);
  if (!flags) return;
  const consent = () => JSON.parse(h.json(true) || 'null');
  // Flag 1: a choice was made (tell site code); flag 2: send the pending
  // choice, if any. The server's answer may ask for a resend.
  const go = (f) => {
    if (f & 1) d.dispatchEvent(new CustomEvent('crumb:change', { detail: consent() }));
    const body = f & 2 && h.json(false);
    if (body) {
      fetch(api + '/consents', {
        method: 'POST', body, keepalive: true, headers: { 'content-type': 'application/json' },
      }).then((r) => r.json().catch(() => ({})).then((j) => go(h.answer(
        r.status, j.consent_id || '', Date.parse(j.given_at), Date.parse(j.expires_at),
        j.error == 'unknown_consent'))),
      () => go(h.answer(0, '')));
    }
  };
  // Capturing listeners on the document see every click, Esc (`cancel`)
  // and script `load`/`error`, including those that do not bubble.
  ['click', 'change', 'keydown', 'cancel', 'load', 'error'].forEach((k, i) =>
    d.addEventListener(k, (e) => go(h.on(i, e)), true));
  new MutationObserver(() => h.on(6)).observe(d.documentElement, { childList: true, subtree: true });
  w.crumb.show = show;
  w.crumb.consent = consent;
  go(flags);
  if (queued.length) show();
});
