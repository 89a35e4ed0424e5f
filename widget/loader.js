// Crumb's loader. The xtask appends this to wasm-bindgen's no-modules glue
// (inside one function, so nothing leaks into the page) and serves both as
// crumb.js. It starts the stylesheet, the site config (in the page's
// language), the wasm module and the visit check (what the server says of
// the consent this browser holds) in parallel, then hands them to the
// widget. It also owns the page's event listeners, the network and the
// channel to the site's other tabs, so no closure crosses into the wasm
// (see widget/src/api.rs): events go to h.on(kind, event), answers to
// h.answer(kind, ...), and what comes back says what to do next.
// __CRUMB_WASM__, __CRUMB_CSS__ and __CRUMB_DIALOG_CSS__ are replaced with
// content-hashed names. The preferences dialog's stylesheet and texts load
// when it first opens (the DIALOG flag), so visitors who never open it do
// not download them.

// The protocol with the wasm; widget/src/app.rs and api.rs hold the same
// table. Flags the wasm returns:
const ANNOUNCE = 1, SEND = 2, RETRY = 4, RELOAD = 8, SHARE = 16, DIALOG = 32;
// Kinds of answer, and of text asked for:
const VISIT = 0, RECORD = 1, TAB = 2, DETAILS = 3;
const TEXT_REQUEST = 0, TEXT_SITE = 1;
// Event kinds: the DOM changed (the gate looks again), crumb.show(), site
// code has heard of a choice (the gate may release):
const DOM = 6, SHOW = 7, RELEASE = 8;

// Crumb's base URL is the folder crumb.js came from, so Crumb can sit on
// its own origin or under a path of the site's own (`/crumb/crumb.js`
// behind the site's reverse proxy).
const d = document, s = d.currentScript, base = new URL('.', s.src).href,
  api = base + 'v1/sites/' + s.getAttribute('data-site'), w = window, queued = [];
// A page that has the tag twice (a CMS plugin and a theme, or a tag
// manager adding it again) gets one widget: the copy that ran first owns
// the page. (`crumb.consent` rather than `crumb`: an element with
// id="crumb" is also `window.crumb`.)
if (w.crumb?.consent) return;
// A released script runs after the page has been parsed, where HTML's own
// `document.write` would replace the whole page (from an inline script)
// or do nothing (from an external one). Old tags still write their pixel
// or their next script that way, so what a released script (a copy that
// keeps its `data-category`) writes goes in just before it, its scripts
// running, as Cookiebot does it; the page's own scripts write as ever.
const write = d.write;
d.write = (...html) =>
  d.currentScript?.dataset.category
    ? d.currentScript.before(d.createRange().createContextualFragment(html.join('')))
    : write.apply(d, html);
d.writeln = (...html) => d.write(...html, '\n');
// The consent id the cookie names. The cookie is only a cache: the server
// says on every page view whether that consent still counts.
const held = /\bcrumb_consent=1~([\w-]+)/.exec(d.cookie);
// An answer as the wasm takes it: status (0: none), the consent's cookie
// value or else its state or error code, and whether the server set the
// cookie itself. (What is left out reaches the wasm as an empty text and
// false: wasm-bindgen's glue encodes `undefined` as "" and reads it as 0.)
const read = (r) => r.json().catch(() => ({})).then((j) =>
  [r.status, j.cookie || j.state || j.error, r.headers.has('crumb-cookie')]);
const none = () => [0];
// Requested in the order a returning visit waits for them: the wasm (from
// the cache, the slowest to arrive) and the visit check first.
const wasm = wasm_bindgen(fetch(base + 'crumb/__CRUMB_WASM__'));
const visit = held ? fetch(api + '/consents/' + held[1]).then(read, none) : none();
// The page's language, then the browser's: the server picks the site's
// language from them, for the config and the dialog's texts alike.
const langQuery = '?lang=' + encodeURIComponent(d.documentElement.lang + ',' + navigator.language);
const config = (fresh) =>
  fetch(api + '/widget' + langQuery, fresh && { cache: 'no-cache' })
    .then((r) => r.text());
// Crumb's stylesheets, each settled once it has loaded (or failed to).
// They go at the end of `<head>`, and back there when a page drops them:
// pages that move on by merging the next page's head into theirs (Astro's
// view transitions, Swup's and Barba's head plugins) remove every
// stylesheet the next page does not name, and Crumb's never is. (Not on
// `<html>` beside the banner: React 18, hydrating a whole document, takes
// a stranger there for a mismatch and renders the page afresh without it.)
const sheets = [];
const sheet = (name) => new Promise((r) => {
  const css = d.createElement('link');
  css.rel = 'stylesheet';
  css.href = base + 'crumb/' + name;
  css.onload = css.onerror = r;
  sheets.push(d.head.appendChild(css));
});
const styled = sheet('__CRUMB_CSS__');
let dialogStyled;
w.crumb = { show: () => queued.push(1), consent: () => null };
Promise.all([config(), visit, wasm, styled]).then(([text, answer]) => {
  const h = wasm_bindgen, show = () => go(h.on(SHOW));
  // (No choice counts yet: the text is null, which JSON.parse reads as
  // "null".)
  const consent = () => JSON.parse(h.text(TEXT_SITE));
  // The site's other open tabs hear of every choice made here. (Every
  // browser the widget runs in has BroadcastChannel: the stylesheet's
  // `:has()` and the dialog's `showModal()` need as recent a one.)
  const tabs = new BroadcastChannel(api);
  let pause = 1e3, reloads = 0, sent, key;
  const go = (f) => {
    // Site code (and vendors' consent signals) hear of a choice before the
    // gate releases what it allows.
    if (f & ANNOUNCE) {
      d.dispatchEvent(new CustomEvent('crumb:change', { detail: consent() }));
      h.on(RELEASE);
    }
    // The tabs share the cookie jar: the word that it changed is enough.
    if (f & SHARE) tabs.postMessage(0);
    // Once per page: the fresh config comes from the server itself.
    if (f & RELOAD && !reloads++) config(true).then((t) => begin(t, answer));
    if (f & RETRY) setTimeout(go, pause *= 2, SEND);
    if (f & DIALOG) {
      dialogStyled = dialogStyled || sheet('__CRUMB_DIALOG_CSS__');
      Promise.all([
        fetch(api + '/widget/details' + langQuery)
          .then((r) => r.text().then((t) => [r.status, t]), none),
        dialogStyled,
      ]).then(([a]) => go(h.answer(DETAILS, ...a)));
    }
    const body = f & SEND && h.text(TEXT_REQUEST);
    if (body) {
      // One Idempotency-Key per choice: its retries are stored once, even
      // when an earlier try was stored but its answer lost.
      if (body != sent) sent = body, key = Date.now() + '-' + Math.random();
      fetch(api + '/consents', {
        method: 'POST', body, keepalive: true,
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
      }).then(read, none).then((a) => go(h.answer(RECORD, ...a)));
    }
  };
  // Starts (or, with a fresh config, restarts) the widget, then gives it
  // the visit check's answer, which decides between banner and choice.
  // (A browser without Global Privacy Control has the property undefined,
  // which the wasm reads as false.)
  const begin = (text, visit) => {
    const started = h.start(text, d, location.protocol == 'https:', location.hostname,
      navigator.globalPrivacyControl);
    if (started) go(h.answer(VISIT, ...visit));
    return started;
  };
  w.crumb.show = show;
  w.crumb.consent = consent;
  if (!begin(text, answer)) return;
  tabs.onmessage = () => go(h.answer(TAB));
  // A page put back from the back/forward cache follows the cookie as a
  // tab does: a choice made on another page meanwhile, which its channel
  // may not have heard (WebKit drops a cached page's messages), counts.
  w.addEventListener('pageshow', (e) => e.persisted && tabs.onmessage());
  // Capturing listeners on the document see every click, Esc (`cancel`)
  // and script `load`/`error`, including those that do not bubble. The
  // page updates at once (the banner goes); what a choice sets off
  // (crumb:change, released scripts, the POST) waits until the browser
  // has painted that: a task queued from the next animation frame runs
  // after its paint, so the click is as quick as the banner's removal.
  // A tab hidden within that frame (quicker than a person switches tabs)
  // runs it when shown again; the choice is already in the cookie,
  // marked pending, and is sent on the next page view if the tab is
  // closed first.
  ['click', 'change', 'keydown', 'cancel', 'load', 'error'].forEach((k, i) =>
    d.addEventListener(k, (e) => {
      // A released script's copy that has loaded (or failed to) has done
      // its work and leaves, and the page's own element, which it stands
      // for, hears it instead: what the page set on that (an `onload`
      // attribute or property, its listeners, a loader's promise, Next.js's
      // `onLoad`) runs once, as if it had loaded itself. The copy's own
      // event stops here, so the attributes it copied do not run too.
      const original = e.target.crumbOriginal;
      if (original) {
        e.stopPropagation();
        e.target.remove();
        original.dispatchEvent(new Event(k));
      }
      const f = h.on(i, e);
      if (f) requestAnimationFrame(() => setTimeout(go, 0, f));
    }, true));
  // Added elements, and gated ones whose marks change after insertion.
  // An embed whose marks an app changes after Crumb handled it (a player's
  // next video: React sets the new data-src on the same iframe) is gated
  // afresh, so it follows only if the current choice allows it. Scripts,
  // which have a `type`, are left alone: a released one ran once, as
  // HTML's own scripts do. (The document has no `removeAttribute`.)
  // An embed's `src` is watched too, so that one whose `src` and mark a
  // page takes away loads again if allowed: a morph that makes a
  // component match its server HTML again (Livewire's, Alpine's) removes
  // both, and would leave the embed on `about:blank`. A change of `src`
  // keeps the mark, so the `src` Crumb sets is not gated afresh (again
  // and again).
  // Crumb's banner, dialog and floating button are children of `<html>`
  // (see widget/src/banner.rs), and from its start on, one of them is
  // always there. When none is, the page has taken them away, and they go
  // back: React, rendering a whole document afresh after a hydration
  // mismatch (Remix, Next.js's app router), puts a new `<html>` in place
  // of the old one (React 18) or empties the old one of what it did not
  // render (React 19).
  const ours = () => d.querySelectorAll(':root>.crumb');
  let kept = ours();
  new MutationObserver((changes) => {
    changes.forEach(({ target: t, attributeName: a }) =>
      t.type ?? (a != 'src' && t.removeAttribute?.('data-crumb')));
    sheets.forEach((css) => css.isConnected || d.head.appendChild(css));
    const now = ours();
    if (now.length) kept = now;
    else d.documentElement.prepend(...kept);
    h.on(DOM);
  }).observe(d, {
    childList: true, subtree: true,
    attributeFilter: ['type', 'data-category', 'data-service', 'data-src', 'src'],
  });
  if (queued.length) show();
});
