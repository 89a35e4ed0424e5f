//! The first-party cookies: reading and writing `crumb_consent`, and
//! deleting the cookies of services the visitor refused.

use alloc::string::String;

use web_sys::Document;

use crate::dom::set_cookie;

use crate::consent::{Stored, cookie_domains, push_u64, split, split_once};

const NAME: &str = "crumb_consent";

/// `document.cookie`: `name=value` pairs separated by `; `.
pub fn cookie_pairs(doc: &Document) -> String {
    crate::dom::cookie(doc)
}

pub fn read(doc: &Document) -> Option<Stored> {
    let all = cookie_pairs(doc);
    let value = split(&all, b';')
        .filter_map(|p| split_once(p.trim_ascii_start(), b'='))
        .find(|(k, _)| *k == NAME)?
        .1;
    Stored::decode(value)
}

/// The longest a browser keeps a cookie (RFC 6265bis: 400 days, in
/// seconds); a two-year consent's cookie is refreshed on confirmed visits.
const MAX_AGE_CAP_S: u64 = 400 * 86_400;

/// Writes the cookie for the time the consent has left, at most the 400
/// days browsers allow. `domain` (the site's `cookie_domain`) shares it
/// with the other hosts of the site; empty keeps it on the page's host.
pub fn write(doc: &Document, stored: &Stored, now_ms: u64, secure: bool, domain: &str) {
    let mut c = String::with_capacity(160);
    c.push_str(NAME);
    c.push_str("=");
    c.push_str(&stored.encode());
    c.push_str("; Path=/; SameSite=Lax; Max-Age=");
    let left_s = stored.expires_ms.saturating_sub(now_ms) / 1000;
    push_u64(&mut c, left_s.min(MAX_AGE_CAP_S));
    if !domain.is_empty() {
        // A cookie of the page's host alone, left from before the site had
        // a `cookie_domain`, would be a second `crumb_consent` beside the
        // shared one, and browsers list the older first: every later
        // consent id would be hidden behind it. It goes (no host: no
        // `Domain` deleted), as the server's `Set-Cookie` removes it in
        // same-origin mode.
        delete(doc, NAME, "");
        c.push_str("; Domain=");
        c.push_str(domain);
    }
    if secure {
        c.push_str("; Secure");
    }
    set_cookie(doc, &c);
}

/// The names in `document.cookie` text ([`cookie_pairs`]), but ours.
pub fn names(cookies: &str) -> impl Iterator<Item = &str> {
    split(cookies, b';')
        .map(|p| split_once(p, b'=').map_or(p, |(k, _)| k).trim_ascii_start())
        .filter(|n| !n.is_empty() && *n != NAME)
}

/// Deletes a cookie on the current host and every parent domain it could
/// have been set on (trackers usually set theirs on the registrable domain).
pub fn delete(doc: &Document, name: &str, host: &str) {
    let mut base = String::with_capacity(64);
    base.push_str(name);
    base.push_str("=; Max-Age=0; Path=/");
    set_cookie(doc, &base);
    for domain in cookie_domains(host) {
        let mut c = base.clone();
        c.push_str("; Domain=");
        c.push_str(domain);
        set_cookie(doc, &c);
    }
}
