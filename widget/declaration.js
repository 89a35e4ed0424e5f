// Crumb's cookie declaration for a site's cookie-policy page, apart from
// the banner so that no other page pays for it. The page adds
//   <script src="https://consent.example.com/crumb/crumb-declaration.js" data-site="SITE_ID" async></script>
// and an element with `data-crumb-declaration` (there at load or added
// later, as single-page apps render a route); this fills it in from
// GET /v1/sites/{site}/declaration in the page's language: per category its
// description, one table of its cookies (cookie, provider, purpose,
// retention, type), and its services with their purpose and privacy-policy
// link. Crumb's own `crumb_consent` is in the necessary category. Text goes
// in only through textContent; links only when they are http(s).
(() => {
  const d = document, s = d.currentScript, base = new URL('..', s.src).href;
  const css = d.createElement('link');
  css.rel = 'stylesheet';
  css.href = base + 'crumb/crumb-declaration.css';
  d.head.appendChild(css);
  const lang = d.documentElement.lang + ',' + navigator.language;
  const url = base + 'v1/sites/' + s.getAttribute('data-site') + '/declaration?lang=' + encodeURIComponent(lang);
  const el = (tag, text, cls) => {
    const e = d.createElement(tag);
    if (text) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  };
  const add = (parent, ...kids) => (kids.forEach((k) => parent.appendChild(k)), parent);
  const link = (href, text) => {
    if (!/^https?:\/\//i.test(href || '')) return null;
    const a = el('a', text);
    a.href = href;
    a.rel = 'noopener noreferrer';
    a.target = '_blank';
    return a;
  };
  const render = (decl, root) => {
    const l = decl.labels;
    root.textContent = '';
    for (const c of decl.categories) {
      const section = add(el('section', '', 'crumb-decl'), el('h3', c.name), el('p', c.description));
      // A category with nothing in it (yet) gets no empty table.
      if (!c.services.length) {
        root.appendChild(section);
        continue;
      }
      const table = el('table', '', 'crumb-decl-table');
      const head = add(el('tr'), ...l.columns.map((h) => el('th', h)));
      add(table, add(el('thead'), head));
      const body = el('tbody');
      for (const svc of c.services) {
        const rows = svc.cookies.length ? svc.cookies : [{ name: '', provider: svc.provider, purpose: l.sets_no_cookies, retention: '' }];
        for (const k of rows) {
          const type = k.party == 'first' ? l.first_party : k.party == 'third' ? l.third_party : '';
          const cells = [k.name + (k.domain ? ' (' + k.domain + ')' : ''), k.provider, k.purpose, k.retention, type];
          const tr = el('tr');
          cells.forEach((text, i) => {
            const td = el('td', text || '–');
            td.setAttribute('data-label', l.columns[i]);
            add(tr, td);
          });
          add(body, tr);
        }
      }
      add(table, body);
      // The services, each with what it is for and whose policy applies.
      const list = el('ul', '', 'crumb-decl-services');
      for (const svc of c.services) {
        const item = add(el('li'), el('strong', svc.name), el('span', ' (' + svc.provider + '): ' + svc.purpose + ' '));
        const a = link(svc.privacy_policy_url, l.privacy_policy);
        if (a) add(item, a);
        add(list, item);
      }
      root.appendChild(add(section, table, list));
    }
  };
  fetch(url).then((r) => r.json()).then((decl) => {
    // Every declaration element, those the page has now and those it adds
    // later (the parser, or a single-page app rendering its cookie-policy
    // route), each filled once.
    const fill = () => d.querySelectorAll('[data-crumb-declaration]:not([data-crumb-filled])').forEach((root) => {
      root.setAttribute('data-crumb-filled', '');
      render(decl, root);
    });
    fill();
    new MutationObserver(fill).observe(d, { childList: true, subtree: true });
  });
})();
