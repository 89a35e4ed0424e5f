// Crumb's loader. The xtask appends this to wasm-bindgen's no-modules glue
// (inside one function, so nothing leaks into the page) and serves both as
// crumb.js. It starts the stylesheet, the site config (in the page's
// language), the wasm module and the visit check (what the server says of
// the consent this browser holds) in parallel, then hands them to the
// widget. It also owns the page's event listeners, the network and the
// channel to the site's other tabs, so no closure crosses into the wasm
// (see widget/src/api.rs): events go to widget.on(kind, event), answers to
// widget.answer(kind, ...), and what comes back says what to do next.
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
const doc = document, script = doc.currentScript, base = new URL('.', script.src).href,
  api = base + 'v1/sites/' + script.getAttribute('data-site'), win = window, queued = [];
// A page that has the tag twice (a CMS plugin and a theme, or a tag
// manager adding it again) gets one widget: the copy that ran first owns
// the page. (`crumb.consent` rather than `crumb`: an element with
// id="crumb" is also `window.crumb`.)
if (win.crumb?.consent) return;
// A released script runs after the page has been parsed, where HTML's own
// `document.write` would replace the whole page (from an inline script)
// or do nothing (from an external one). Old tags still write their pixel
// or their next script that way, so what a released script (a copy that
// keeps its `data-category`) writes goes in just before it, its scripts
// running, as Cookiebot does it; the page's own scripts write as ever.
const write = doc.write;
doc.write = (...html) =>
  doc.currentScript?.dataset.category
    ? doc.currentScript.before(doc.createRange().createContextualFragment(html.join('')))
    : write.apply(doc, html);
doc.writeln = (...html) => doc.write(...html, '\n');
// The consent id the cookie names. The cookie is only a cache: the server
// says on every page view whether that consent still counts.
const held = /\bcrumb_consent=1~([\w-]+)/.exec(doc.cookie);
// An answer as the wasm takes it: status (0: none), the consent's cookie
// value or else its state or error code, and whether the server set the
// cookie itself. (What is left out reaches the wasm as an empty text and
// false: wasm-bindgen's glue encodes `undefined` as "" and reads it as 0.)
const read = (response) => response.json().catch(() => ({})).then((body) =>
  [response.status, body.cookie || body.state || body.error, response.headers.has('crumb-cookie')]);
const none = () => [0];
// Requested in the order a returning visit waits for them: the wasm (from
// the cache, the slowest to arrive) and the visit check first.
const wasm = wasm_bindgen(fetch(base + 'crumb/__CRUMB_WASM__'));
const visit = held ? fetch(api + '/consents/' + held[1]).then(read, none) : none();
// The page's language, then the browser's: the server picks the site's
// language from them, for the config and the dialog's texts alike.
const langQuery = '?lang=' + encodeURIComponent(doc.documentElement.lang + ',' + navigator.language);
const config = (fresh) =>
  fetch(api + '/widget' + langQuery, fresh && { cache: 'no-cache' })
    .then((response) => response.text());
// Crumb's stylesheets, each settled once it has loaded (or failed to).
// They go at the end of `<head>`, and back there when a page drops them:
// pages that move on by merging the next page's head into theirs (Astro's
// view transitions, Swup's and Barba's head plugins) remove every
// stylesheet the next page does not name, and Crumb's never is. (Not on
// `<html>` beside the banner: React 18, hydrating a whole document, takes
// a stranger there for a mismatch and renders the page afresh without it.)
const sheets = [];
const sheet = (name) => new Promise((loaded) => {
  const css = doc.createElement('link');
  css.rel = 'stylesheet';
  css.href = base + 'crumb/' + name;
  css.onload = css.onerror = loaded;
  sheets.push(doc.head.appendChild(css));
});
const styled = sheet('__CRUMB_CSS__');
let dialogStyled;
win.crumb = { show: () => queued.push(1), consent: () => null };
Promise.all([config(), visit, wasm, styled]).then(([text, answer]) => {
  const widget = wasm_bindgen, show = () => go(widget.on(SHOW));
  // (No choice counts yet: the text is null, which JSON.parse reads as
  // "null".)
  const consent = () => JSON.parse(widget.text(TEXT_SITE));
  // The site's other open tabs hear of every choice made here. (Every
  // browser the widget runs in has BroadcastChannel: the stylesheet's
  // `:has()` and the dialog's `showModal()` need as recent a one.)
  const tabs = new BroadcastChannel(api);
  let pause = 1e3, reloads = 0, sent, key;
  const go = (flags) => {
    // Site code (and vendors' consent signals) hear of a choice before the
    // gate releases what it allows.
    if (flags & ANNOUNCE) {
      doc.dispatchEvent(new CustomEvent('crumb:change', { detail: consent() }));
      widget.on(RELEASE);
    }
    // The tabs share the cookie jar: the word that it changed is enough.
    if (flags & SHARE) tabs.postMessage(0);
    // Once per page: the fresh config comes from the server itself.
    if (flags & RELOAD && !reloads++) config(true).then((fresh) => begin(fresh, answer));
    if (flags & RETRY) setTimeout(go, pause *= 2, SEND);
    if (flags & DIALOG) {
      dialogStyled = dialogStyled || sheet('__CRUMB_DIALOG_CSS__');
      Promise.all([
        fetch(api + '/widget/details' + langQuery)
          .then((response) => response.text().then((text) => [response.status, text]), none),
        dialogStyled,
      ]).then(([details]) => go(widget.answer(DETAILS, ...details)));
    }
    const body = flags & SEND && widget.text(TEXT_REQUEST);
    if (body) {
      // One Idempotency-Key per choice: its retries are stored once, even
      // when an earlier try was stored but its answer lost.
      if (body != sent) sent = body, key = Date.now() + '-' + Math.random();
      fetch(api + '/consents', {
        method: 'POST', body, keepalive: true,
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
      }).then(read, none).then((recorded) => go(widget.answer(RECORD, ...recorded)));
    }
  };
  // Starts (or, with a fresh config, restarts) the widget, then gives it
  // the visit check's answer, which decides between banner and choice.
  // (A browser without Global Privacy Control has the property undefined,
  // which the wasm reads as false.)
  const begin = (text, visitAnswer) => {
    const started = widget.start(text, doc, location.protocol == 'https:', location.hostname,
      navigator.globalPrivacyControl);
    if (started) go(widget.answer(VISIT, ...visitAnswer));
    return started;
  };
  win.crumb.show = show;
  win.crumb.consent = consent;
  if (!begin(text, answer)) return;
  tabs.onmessage = () => go(widget.answer(TAB));
  // A page put back from the back/forward cache follows the cookie as a
  // tab does: a choice made on another page meanwhile, which its channel
  // may not have heard (WebKit drops a cached page's messages), counts.
  win.addEventListener('pageshow', (event) => event.persisted && tabs.onmessage());
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
  ['click', 'change', 'keydown', 'cancel', 'load', 'error'].forEach((kind, i) =>
    doc.addEventListener(kind, (event) => {
      // A released script's copy that has loaded (or failed to) has done
      // its work and leaves, and the page's own element, which it stands
      // for, hears it instead: what the page set on that (an `onload`
      // attribute or property, its listeners, a loader's promise, Next.js's
      // `onLoad`) runs once, as if it had loaded itself. The copy's own
      // event stops here, so the attributes it copied do not run too.
      const original = event.target.crumbOriginal;
      if (original) {
        event.stopPropagation();
        event.target.remove();
        original.dispatchEvent(new Event(kind));
      }
      const flags = widget.on(i, event);
      if (flags) requestAnimationFrame(() => setTimeout(go, 0, flags));
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
  const ours = () => doc.querySelectorAll(':root>.crumb');
  let kept = ours();
  new MutationObserver((changes) => {
    changes.forEach(({ target, attributeName }) =>
      target.type ?? (attributeName != 'src' && target.removeAttribute?.('data-crumb')));
    sheets.forEach((css) => css.isConnected || doc.head.appendChild(css));
    const now = ours();
    if (now.length) kept = now;
    else doc.documentElement.prepend(...kept);
    widget.on(DOM);
  }).observe(doc, {
    childList: true, subtree: true,
    attributeFilter: ['type', 'data-category', 'data-service', 'data-src', 'src'],
  });
  if (queued.length) show();
});
