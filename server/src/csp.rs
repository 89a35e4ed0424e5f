//! A page's Content-Security-Policy as the browser applies it to what Crumb
//! loads and releases, for `crumb lint --page`: whether the policy lets
//! Crumb's tag, its WebAssembly, its requests and its stylesheet in, and
//! whether it lets a gated script's released copy run and a gated embed
//! load. Pure: a policy's text in, a verdict out (CSP Level 3's matching,
//! for the directives and sources these checks meet).
//!
//! A released copy is made by Crumb's own script, and seen so in Chromium,
//! Firefox ESR and WebKitGTK: under `'strict-dynamic'` it runs without the
//! page's nonce (trust passes from Crumb's tag to what it creates); under
//! a policy of hosts without `'unsafe-inline'`, an inline one runs only
//! with the page's nonce or its hash.

use base64::Engine as _;
use sha2::Digest as _;

/// One policy: its directives in lower case, each with its source list as
/// written (the first of a repeated directive counts, as in browsers).
#[derive(Debug, PartialEq, Eq)]
pub struct Policy {
    directives: Vec<(String, Vec<String>)>,
}

/// What a policy does to one load.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Blocked by the directive named.
    Blocked(&'static str),
    /// It depends on what the text alone cannot tell (whether an absolute
    /// address is the page's own origin, which `'self'` names).
    Unknown,
}

/// What a page loads or fetches, each with the directives that govern it,
/// most specific first.
#[derive(Clone, Copy, Debug)]
pub enum Fetch {
    Connect,
    Style,
    Frame,
    Image,
}

impl Fetch {
    fn directives(self) -> &'static [&'static str] {
        match self {
            Fetch::Connect => &["connect-src", "default-src"],
            Fetch::Style => &["style-src-elem", "style-src", "default-src"],
            Fetch::Frame => &["frame-src", "child-src", "default-src"],
            Fetch::Image => &["img-src", "default-src"],
        }
    }
}

/// A script element as the policy sees it.
#[derive(Debug)]
pub struct Script<'a> {
    /// The address of an external script; `None` for an inline one.
    pub address: Option<&'a str>,
    /// Its code, for an inline one (what a hash source is of).
    pub text: &'a str,
    pub nonce: Option<&'a str>,
    /// Whether a script of the page creates it (a released copy), rather
    /// than the parser reading the page.
    pub by_script: bool,
}

const SCRIPT_ELEMENTS: &[&str] = &["script-src-elem", "script-src", "default-src"];

impl Policy {
    /// Reads a policy (`script-src 'self'; img-src *`). Directive names
    /// are case-insensitive; unknown ones are kept and never asked for.
    pub fn parse(text: &str) -> Policy {
        let mut directives: Vec<(String, Vec<String>)> = Vec::new();
        for directive in text.split(';') {
            let mut tokens = directive.split_ascii_whitespace();
            let Some(name) = tokens.next() else { continue };
            let name = name.to_ascii_lowercase();
            if directives.iter().all(|(n, _)| *n != name) {
                directives.push((name, tokens.map(str::to_owned).collect()));
            }
        }
        Policy { directives }
    }

    /// The policies of a `Content-Security-Policy` header's value, where
    /// commas join several.
    pub fn parse_header(value: &str) -> Vec<Policy> {
        value
            .split(',')
            .map(Policy::parse)
            .filter(|p| !p.directives.is_empty())
            .collect()
    }

    /// The source list that governs, and the directive it is from: the
    /// first of `chain` the policy has.
    fn governing(&self, chain: &[&'static str]) -> Option<(&'static str, &[String])> {
        chain.iter().find_map(|&wanted| {
            self.directives
                .iter()
                .find(|(name, _)| name == wanted)
                .map(|(_, list)| (wanted, list.as_slice()))
        })
    }

    /// Whether the policy lets the browser compile WebAssembly (the
    /// widget is a WebAssembly module).
    pub fn wasm(&self) -> Verdict {
        match self.governing(&["script-src", "default-src"]) {
            None => Verdict::Allowed,
            Some((_, list)) if has(list, "'wasm-unsafe-eval'") || has(list, "'unsafe-eval'") => {
                Verdict::Allowed
            }
            Some((directive, _)) => Verdict::Blocked(directive),
        }
    }

    /// Whether the policy lets a fetch of `kind` reach `address`, on a
    /// page of `origin` (`https://shop.example`) where that is known.
    pub fn fetch(&self, kind: Fetch, address: &str, origin: Option<&str>) -> Verdict {
        match self.governing(kind.directives()) {
            None => Verdict::Allowed,
            Some((directive, list)) => address_verdict(list, address, origin, directive),
        }
    }

    /// Whether the policy lets `script` run, on a page of `origin` where
    /// that is known.
    pub fn script(&self, script: &Script<'_>, origin: Option<&str>) -> Verdict {
        let Some((directive, list)) = self.governing(SCRIPT_ELEMENTS) else {
            return Verdict::Allowed;
        };
        // A nonce's value is compared as written; its keyword in any case.
        let nonce_matches = script.nonce.is_some_and(|n| {
            !n.is_empty()
                && list.iter().any(|s| {
                    s.get(..7)
                        .is_some_and(|k| k.eq_ignore_ascii_case("'nonce-"))
                        && s[7..].strip_suffix('\'') == Some(n)
                })
        });
        if nonce_matches {
            return Verdict::Allowed;
        }
        // Under 'strict-dynamic' a script that another (trusted) script
        // creates runs; addresses, 'self' and 'unsafe-inline' no longer
        // count for the ones the parser reads.
        let strict_dynamic = has(list, "'strict-dynamic'");
        if strict_dynamic && script.by_script {
            return Verdict::Allowed;
        }
        match script.address {
            Some(_) if strict_dynamic => Verdict::Blocked(directive),
            Some(address) => address_verdict(list, address, origin, directive),
            None if hash_matches(list, script.text) => Verdict::Allowed,
            None => {
                // 'unsafe-inline' is ignored beside a nonce or a hash.
                let pinned = list.iter().any(|s| {
                    let s = s.to_ascii_lowercase();
                    s.starts_with("'nonce-") || s.starts_with("'sha")
                });
                if has(list, "'unsafe-inline'") && !pinned && !strict_dynamic {
                    Verdict::Allowed
                } else {
                    Verdict::Blocked(directive)
                }
            }
        }
    }
}

/// Whether a source list holds a keyword, in any letter case.
fn has(list: &[String], keyword: &str) -> bool {
    list.iter().any(|s| s.eq_ignore_ascii_case(keyword))
}

/// Whether an inline script's code has a hash source in the list
/// (`'sha256-…'`, `'sha384-…'`, `'sha512-…'`, of the code as written).
fn hash_matches(list: &[String], text: &str) -> bool {
    let b64 = |digest: &[u8]| base64::engine::general_purpose::STANDARD.encode(digest);
    list.iter().any(|source| {
        let Some(inner) = source.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) else {
            return false;
        };
        let Some((algorithm, value)) = inner.split_once('-') else {
            return false;
        };
        let ours = match algorithm.to_ascii_lowercase().as_str() {
            "sha256" => b64(&sha2::Sha256::digest(text)),
            "sha384" => b64(&sha2::Sha384::digest(text)),
            "sha512" => b64(&sha2::Sha512::digest(text)),
            _ => return false,
        };
        // base64url in a hash source is read as base64 too.
        ours == value.replace('-', "+").replace('_', "/")
    })
}

/// An address split as a source list matches it.
#[derive(Debug, PartialEq, Eq)]
enum Address<'a> {
    /// Relative: on the page's own origin, at `path` (empty for an
    /// address relative to the page's folder, whose path is not known).
    PageOrigin { path: &'a str },
    Absolute {
        /// Empty for a scheme-relative address (`//host/path`), which
        /// takes the page's scheme.
        scheme: String,
        host: String,
        /// The port as written, if any.
        port: Option<&'a str>,
        path: &'a str,
    },
}

impl<'a> Address<'a> {
    fn parse(address: &'a str) -> Address<'a> {
        let address = address.trim();
        let (scheme, rest) = match address.split_once(':') {
            Some((scheme, rest))
                if !scheme.is_empty()
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
            {
                (scheme.to_ascii_lowercase(), rest)
            }
            _ if address.starts_with("//") => (String::new(), address),
            _ => {
                let path = &address[..address.find(['?', '#']).unwrap_or(address.len())];
                let path = if path.starts_with('/') { path } else { "" };
                return Address::PageOrigin { path };
            }
        };
        let Some(rest) = rest.strip_prefix("//") else {
            // `data:`, `blob:`, ...: a scheme and nothing a host source
            // could match.
            return Address::Absolute {
                scheme,
                host: String::new(),
                port: None,
                path: "",
            };
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        // An IPv6 host is in brackets, with colons of its own.
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => {
                (&authority[..i], Some(&authority[i + 1..]))
            }
            _ => (authority, None),
        };
        let path = &rest[end..];
        let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
        Address::Absolute {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path,
        }
    }
}

/// The verdict of `list` (from `directive`) on a fetch of `address`
/// from a page of `origin`, if known.
fn address_verdict(
    list: &[String],
    address: &str,
    origin: Option<&str>,
    directive: &'static str,
) -> Verdict {
    let origin = origin.map(Address::parse);
    let mut address = Address::parse(address);
    // A relative address is on the page's origin (one relative to the
    // page's folder is at a path not known, which only 'self' and `*`
    // match for sure).
    if let (
        Address::PageOrigin { path },
        Some(Address::Absolute {
            scheme, host, port, ..
        }),
    ) = (&address, &origin)
        && !path.is_empty()
    {
        address = Address::Absolute {
            scheme: scheme.clone(),
            host: host.clone(),
            port: *port,
            path,
        };
    }
    let mut unknown = false;
    for source in list {
        match source_matches(source, &address, origin.as_ref()) {
            Some(true) => return Verdict::Allowed,
            Some(false) => {}
            None => unknown = true,
        }
    }
    if unknown {
        Verdict::Unknown
    } else {
        Verdict::Blocked(directive)
    }
}

/// Whether the schemes of a source and an address match: the same, or a
/// source's `http` for an `https` address (CSP's upgrade). An address's
/// empty scheme (`//host`) is the page's, taken as web.
fn scheme_matches(source: &str, address: &str) -> bool {
    let address = if address.is_empty() { source } else { address };
    source == address || (source == "http" && address == "https")
}

/// Whether one source expression matches `address` from a page of
/// `origin`; `None` when that depends on the page's origin, not known.
fn source_matches(
    source: &str,
    address: &Address<'_>,
    origin: Option<&Address<'_>>,
) -> Option<bool> {
    let source = source.trim();
    if source.eq_ignore_ascii_case("'self'") {
        return match (address, origin) {
            (Address::PageOrigin { .. }, _) => Some(true),
            (Address::Absolute { scheme, .. }, _) if !is_web(scheme) => Some(false),
            (
                Address::Absolute {
                    scheme, host, port, ..
                },
                Some(Address::Absolute {
                    scheme: own_scheme,
                    host: own_host,
                    port: own_port,
                    ..
                }),
            ) => {
                // The page's own origin, or its https upgrade.
                let scheme = if scheme.is_empty() {
                    own_scheme
                } else {
                    scheme
                };
                let ours = own_port.unwrap_or(default_port(own_scheme));
                let theirs = port.unwrap_or(default_port(scheme));
                Some(
                    scheme_matches(own_scheme, scheme)
                        && host == own_host
                        && (ours == theirs || (ours == "80" && theirs == "443")),
                )
            }
            (Address::Absolute { .. }, _) => None,
        };
    }
    if source.starts_with('\'') {
        return Some(false);
    }
    let Address::Absolute {
        scheme,
        host,
        port,
        path,
    } = address
    else {
        // An address on the page's own origin: `*` takes it; a scheme or
        // host source may name that origin, which the text cannot tell.
        return if source == "*" { Some(true) } else { None };
    };
    if source == "*" {
        return Some(is_web(scheme));
    }
    // A scheme source: `https:`, `data:`.
    if let Some(only) = source.strip_suffix(':')
        && !only.contains([':', '/'])
    {
        return Some(scheme_matches(&only.to_ascii_lowercase(), scheme));
    }
    if !is_web(scheme) {
        return Some(false);
    }
    // A host source: [scheme://]host[:port][/path].
    let (source_scheme, rest) = match source.split_once("://") {
        Some((s, rest)) => (Some(s.to_ascii_lowercase()), rest),
        None => (None, source),
    };
    if let Some(s) = &source_scheme
        && !scheme_matches(s, scheme)
    {
        return Some(false);
    }
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, source_path) = rest.split_at(end);
    let (source_host, source_port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
        None => (authority.to_ascii_lowercase(), None),
    };
    let host_ok = if source_host == "*" {
        true
    } else if let Some(parent) = source_host.strip_prefix("*.") {
        host.ends_with(&format!(".{parent}"))
    } else {
        *host == source_host
    };
    if !host_ok {
        return Some(false);
    }
    let address_port = port.unwrap_or_else(|| default_port(scheme));
    let port_ok = match source_port {
        Some("*") => true,
        Some(p) => p == address_port || (p == "80" && address_port == "443"),
        // No port: the address's scheme's own.
        None => address_port == default_port(scheme),
    };
    if !port_ok {
        return Some(false);
    }
    let path_ok = source_path.is_empty()
        || source_path == "/"
        || if source_path.ends_with('/') {
            path.starts_with(source_path)
        } else {
            *path == source_path
        };
    Some(path_ok)
}

/// A scheme's own port.
fn default_port(scheme: &str) -> &'static str {
    match scheme {
        "http" | "ws" => "80",
        _ => "443",
    }
}

/// Whether a scheme is one `*` and host sources match (the page's own is
/// taken to be web too).
fn is_web(scheme: &str) -> bool {
    matches!(scheme, "" | "http" | "https" | "ws" | "wss")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline<'a>(text: &'a str, nonce: Option<&'a str>, by_script: bool) -> Script<'a> {
        Script {
            address: None,
            text,
            nonce,
            by_script,
        }
    }

    fn external<'a>(address: &'a str, nonce: Option<&'a str>, by_script: bool) -> Script<'a> {
        Script {
            address: Some(address),
            text: "",
            nonce,
            by_script,
        }
    }

    /// A page's origin.
    const SHOP: Option<&str> = Some("https://shop.example");

    #[test]
    fn directives_fall_back_to_default_src_and_the_first_of_a_name_counts() {
        let policy = Policy::parse("DEFAULT-SRC 'self'; img-src *; img-src 'none'");
        assert_eq!(
            policy.fetch(Fetch::Image, "https://px.example/1.gif", SHOP),
            Verdict::Allowed
        );
        assert_eq!(
            policy.fetch(Fetch::Frame, "https://www.youtube.com/embed/ID", SHOP),
            Verdict::Blocked("default-src")
        );
        assert_eq!(
            policy.fetch(Fetch::Frame, "/map.html", None),
            Verdict::Allowed
        );
        // No directive for it: allowed.
        assert_eq!(
            Policy::parse("img-src 'self'").fetch(Fetch::Connect, "https://a.example/", SHOP),
            Verdict::Allowed
        );
        assert_eq!(
            Policy::parse_header("img-src *, script-src 'self'").len(),
            2
        );
    }

    #[test]
    fn host_sources_match_by_scheme_host_port_and_path() {
        let verdict = |source: &str, address: &str| {
            Policy::parse(&format!("connect-src {source}")).fetch(Fetch::Connect, address, None)
        };
        let allowed = [
            (
                "https://consent.example.com",
                "https://consent.example.com/v1/sites/s",
            ),
            ("consent.example.com", "https://consent.example.com/v1/"),
            (
                "http://consent.example.com",
                "https://consent.example.com/v1/",
            ),
            ("*.example.com", "https://consent.example.com/v1/"),
            (
                "https://consent.example.com:*",
                "https://consent.example.com:8443/v1/",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1/"),
            (
                "https://consent.example.com/crumb/",
                "https://consent.example.com/crumb/v1/",
            ),
            ("https:", "https://any.example/x"),
            ("*", "https://any.example/x"),
            ("https://consent.example.com", "//consent.example.com/v1/"),
        ];
        for (source, address) in allowed {
            assert_eq!(
                verdict(source, address),
                Verdict::Allowed,
                "{source} {address}"
            );
        }
        let blocked = [
            (
                "https://consent.example.com",
                "http://consent.example.com/v1/",
            ),
            ("*.example.com", "https://example.com/v1/"),
            (
                "consent.example.com",
                "https://consent.example.com:8443/v1/",
            ),
            (
                "https://consent.example.com/crumb/",
                "https://consent.example.com/v1/",
            ),
            (
                "https://consent.example.com/crumb.js",
                "https://consent.example.com/v1/",
            ),
            ("*", "data:text/html,x"),
            ("'none'", "https://consent.example.com/"),
        ];
        for (source, address) in blocked {
            assert_eq!(
                verdict(source, address),
                Verdict::Blocked("connect-src"),
                "{source} {address}"
            );
        }
        // 'self': a relative address is the page's; an absolute one may
        // be, when the page's origin is not known.
        assert_eq!(verdict("'self'", "/crumb/v1/"), Verdict::Allowed);
        assert_eq!(
            verdict("'self'", "https://shop.example/v1/"),
            Verdict::Unknown
        );
        assert_eq!(
            verdict("'self'", "data:,x"),
            Verdict::Blocked("connect-src")
        );
        assert_eq!(verdict("https://shop.example", "/v1/"), Verdict::Unknown);
        assert_eq!(verdict("data:", "data:text/html,x"), Verdict::Allowed);
        // Known, it decides.
        let on_shop = |source: &str, address: &str| {
            Policy::parse(&format!("connect-src {source}")).fetch(Fetch::Connect, address, SHOP)
        };
        assert_eq!(
            on_shop("'self'", "https://shop.example/v1/"),
            Verdict::Allowed
        );
        assert_eq!(on_shop("'self'", "//shop.example/v1/"), Verdict::Allowed);
        assert_eq!(
            on_shop("'self'", "https://consent.example.com/v1/"),
            Verdict::Blocked("connect-src")
        );
        assert_eq!(
            on_shop("'self'", "https://shop.example:8443/v1/"),
            Verdict::Blocked("connect-src")
        );
        assert_eq!(
            on_shop("https://shop.example", "/crumb/v1/"),
            Verdict::Allowed
        );
        assert_eq!(
            on_shop("https://consent.example.com", "/crumb/v1/"),
            Verdict::Blocked("connect-src")
        );
        // A path source: the page's own addresses by their path; one
        // relative to the page's folder has a path not known.
        assert_eq!(
            on_shop("https://shop.example/js/", "/js/a.js"),
            Verdict::Allowed
        );
        assert_eq!(
            on_shop("https://shop.example/js/", "/css/a.css"),
            Verdict::Blocked("connect-src")
        );
        assert_eq!(
            on_shop("https://shop.example/js/", "a.js"),
            Verdict::Unknown
        );
    }

    #[test]
    fn webassembly_needs_wasm_unsafe_eval_or_unsafe_eval() {
        assert_eq!(Policy::parse("img-src *").wasm(), Verdict::Allowed);
        assert_eq!(
            Policy::parse("script-src 'self' 'WASM-unsafe-eval'").wasm(),
            Verdict::Allowed
        );
        assert_eq!(
            Policy::parse("default-src 'self' 'unsafe-eval'").wasm(),
            Verdict::Allowed
        );
        assert_eq!(
            Policy::parse("default-src 'self'").wasm(),
            Verdict::Blocked("default-src")
        );
    }

    #[test]
    fn scripts_run_by_nonce_hash_unsafe_inline_or_strict_dynamic_trust() {
        let hosts = Policy::parse("script-src 'self' https://cdn.example 'unsafe-inline'");
        assert_eq!(
            hosts.script(&inline("go()", None, true), SHOP),
            Verdict::Allowed
        );
        assert_eq!(
            hosts.script(&external("https://cdn.example/a.js", None, true), SHOP),
            Verdict::Allowed
        );
        assert_eq!(
            hosts.script(&external("https://evil.example/a.js", None, true), SHOP),
            Verdict::Blocked("script-src")
        );

        // A nonce or a hash switches 'unsafe-inline' off.
        let nonce = Policy::parse("script-src-elem 'self' 'nonce-r4nd0m' 'unsafe-inline'");
        assert_eq!(
            nonce.script(&inline("go()", None, true), SHOP),
            Verdict::Blocked("script-src-elem")
        );
        assert_eq!(
            nonce.script(&inline("go()", Some("r4nd0m"), true), SHOP),
            Verdict::Allowed
        );
        assert_eq!(
            nonce.script(&inline("go()", Some("R4ND0M"), true), SHOP),
            Verdict::Blocked("script-src-elem")
        );
        // sha256 of "go()" in base64.
        let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest("go()"));
        let hashed = Policy::parse(&format!("script-src 'sha256-{digest}'"));
        assert_eq!(
            hashed.script(&inline("go()", None, true), SHOP),
            Verdict::Allowed
        );
        assert_eq!(
            hashed.script(&inline("go(1)", None, true), SHOP),
            Verdict::Blocked("script-src")
        );

        // 'strict-dynamic': what Crumb creates runs; what the parser reads
        // needs the nonce, wherever it comes from.
        let strict =
            Policy::parse("script-src 'nonce-r4nd0m' 'strict-dynamic' https: 'unsafe-inline'");
        assert_eq!(
            strict.script(&inline("go()", None, true), SHOP),
            Verdict::Allowed
        );
        assert_eq!(
            strict.script(&external("https://cdn.example/a.js", None, false), SHOP),
            Verdict::Blocked("script-src")
        );
        assert_eq!(
            strict.script(
                &external("https://cdn.example/a.js", Some("r4nd0m"), false),
                SHOP
            ),
            Verdict::Allowed
        );
    }

    #[test]
    fn addresses_split_as_sources_match_them() {
        assert_eq!(
            Address::parse("/crumb/crumb.js?v=2"),
            Address::PageOrigin {
                path: "/crumb/crumb.js"
            }
        );
        assert_eq!(Address::parse("crumb.js"), Address::PageOrigin { path: "" });
        assert_eq!(
            Address::parse("http://[::1]:8080/x"),
            Address::Absolute {
                scheme: "http".into(),
                host: "[::1]".into(),
                port: Some("8080"),
                path: "/x",
            }
        );
        assert_eq!(
            Address::parse("HTTPS://User@Consent.Example.com:8443/crumb/crumb.js?v=1#x"),
            Address::Absolute {
                scheme: "https".into(),
                host: "consent.example.com".into(),
                port: Some("8443"),
                path: "/crumb/crumb.js",
            }
        );
        assert_eq!(
            Address::parse("//consent.example.com"),
            Address::Absolute {
                scheme: String::new(),
                host: "consent.example.com".into(),
                port: None,
                path: "",
            }
        );
    }
}
