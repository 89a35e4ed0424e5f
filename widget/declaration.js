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
  const doc = document, script = doc.currentScript, base = new URL('..', script.src).href;
  const css = doc.createElement('link');
  css.rel = 'stylesheet';
  css.href = base + 'crumb/crumb-declaration.css';
  doc.head.appendChild(css);
  const lang = doc.documentElement.lang + ',' + navigator.language;
  const url = base + 'v1/sites/' + script.getAttribute('data-site') + '/declaration?lang=' + encodeURIComponent(lang);
  const el = (tag, text, cls) => {
    const element = doc.createElement(tag);
    if (text) element.textContent = text;
    if (cls) element.className = cls;
    return element;
  };
  const add = (parent, ...kids) => (kids.forEach((kid) => parent.appendChild(kid)), parent);
  const link = (href, text) => {
    if (!/^https?:\/\//i.test(href || '')) return null;
    const anchor = el('a', text);
    anchor.href = href;
    anchor.rel = 'noopener noreferrer';
    anchor.target = '_blank';
    return anchor;
  };
  const render = (decl, root) => {
    const labels = decl.labels;
    root.textContent = '';
    for (const category of decl.categories) {
      const section = add(el('section', '', 'crumb-decl'), el('h3', category.name), el('p', category.description));
      // A category with nothing in it (yet) gets no empty table.
      if (!category.services.length) {
        root.appendChild(section);
        continue;
      }
      const table = el('table', '', 'crumb-decl-table');
      const head = add(el('tr'), ...labels.columns.map((heading) => el('th', heading)));
      add(table, add(el('thead'), head));
      const body = el('tbody');
      for (const svc of category.services) {
        const rows = svc.cookies.length ? svc.cookies : [{ name: '', provider: svc.provider, purpose: labels.sets_no_cookies, retention: '' }];
        for (const cookie of rows) {
          const type = cookie.party == 'first' ? labels.first_party : cookie.party == 'third' ? labels.third_party : '';
          const cells = [cookie.name + (cookie.domain ? ' (' + cookie.domain + ')' : ''), cookie.provider, cookie.purpose, cookie.retention, type];
          const tr = el('tr');
          cells.forEach((text, i) => {
            const td = el('td', text || '–');
            td.setAttribute('data-label', labels.columns[i]);
            add(tr, td);
          });
          add(body, tr);
        }
      }
      add(table, body);
      // The services, each with what it is for and whose policy applies.
      const list = el('ul', '', 'crumb-decl-services');
      for (const svc of category.services) {
        const item = add(el('li'), el('strong', svc.name), el('span', ' (' + svc.provider + '): ' + svc.purpose + ' '));
        const policy = link(svc.privacy_policy_url, labels.privacy_policy);
        if (policy) add(item, policy);
        add(list, item);
      }
      root.appendChild(add(section, table, list));
    }
  };
  fetch(url).then((response) => response.json()).then((decl) => {
    // Every declaration element, those the page has now and those it adds
    // later (the parser, or a single-page app rendering its cookie-policy
    // route), each filled once.
    const fill = () => doc.querySelectorAll('[data-crumb-declaration]:not([data-crumb-filled])').forEach((root) => {
      root.setAttribute('data-crumb-filled', '');
      render(decl, root);
    });
    fill();
    new MutationObserver(fill).observe(doc, { childList: true, subtree: true });
  });
})();
