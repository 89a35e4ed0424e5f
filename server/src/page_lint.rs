//! The check of a site's own pages against its config (`crumb lint CONFIG
//! --page FILE`): the markup mistakes that make a page track before any
//! choice, or keep something from ever running, which no check of the
//! config alone can see. Each element Crumb would gate is looked at as the
//! widget looks at it (`widget/src/gate.rs`):
//!
//! - a `<script>` with `data-category` runs at once unless its `type` is
//!   `text/plain`; any other type that is not JavaScript is never released;
//! - an `<iframe>` or `<img>` with `data-category` loads at once from a
//!   `src`, and needs its address in `data-src`; an iframe's `srcdoc`
//!   shows at once and keeps it from ever loading;
//! - other elements with `data-category` (`<link>`, `<video>`, ...) are not
//!   gated at all;
//! - a vendor's tag (`VENDORS`) marked necessary runs before any choice
//!   and cannot be refused;
//! - a `data-category` the site does not have, or a `data-service` it does
//!   not have, is never allowed; a service named under another category
//!   than its own is allowed only when both are;
//! - the widget's own tag (`crumb.js`) names this site in `data-site`,
//!   and is a classic script (a module has no `document.currentScript`);
//! - a script a page-speed tool holds back (`DELAYERS`: Rocket Loader,
//!   WP Rocket, ...) runs later all the same, consent or not: it is read
//!   as the script it is, with the address the tool moved;
//! - a blocked iframe in a page Vue hydrates (Nuxt), or in a component
//!   Angular hydrates, gets a placeholder that the framework takes for
//!   an element of its own;
//! - a gated embed with a lazy-loading library's class (lazysizes's
//!   `lazyload`, ...) is loaded by that library before any choice;
//! - an element Crumb would gate is not in a declarative shadow root
//!   (`<template shadowrootmode>`), where the widget never looks;
//! - no element of the page's has a class Crumb's stylesheets style
//!   (`CRUMB_CLASSES`), whose rules would reach it;
//! - a page that loads the WP Consent API (WordPress) has Crumb's signals
//!   script and a config that sets the API's consent type and
//!   categories, without which the API tells plugins that all is
//!   allowed;
//! - the page's Content-Security-Policy (`<meta http-equiv>`, or the
//!   headers of a response head before the page, as `curl -si` prints
//!   it) lets Crumb's tag, its WebAssembly, its requests and its
//!   stylesheet in, and lets each gated script's released copy run and
//!   each gated embed load (`crate::csp`).
//!
//! Elements not marked at all are looked at too, for the tags of
//! well-known tracking vendors (`VENDORS`, found by the address their
//! tag loads from, in a `src` or in an inline snippet's text) that would
//! run before any choice, unless a vendor signal of the site's config holds
//! the vendor back itself (Google Consent Mode's advanced mode, the Meta
//! Pixel's, Microsoft's, Matomo's, HubSpot's and TikTok's signals); for a `<noscript>`
//! block that loads a vendor's request or a hidden pixel, an iframe or a
//! pixel no choice can hold back (it works only where Crumb cannot run);
//! for Google Fonts linked, imported or preconnected to from Google's
//! servers, which hand Google every visitor's address before any choice;
//! and for tags still held back the way another consent tool marks them
//! (`OTHER_MARKINGS`: Cookiebot's, OneTrust's, ...), which Crumb never
//! releases, or site code that waits for such a tool's events or asks
//! its API (`OTHER_APIS`), which no longer answers.
//!
//! The page is read as HTML's tokenizer reads it (html5gum, with the
//! states a `<script>` or `<style>` switches to), so markup inside
//! scripts, style sheets, comments and attribute values is not taken for
//! elements.

use std::collections::BTreeMap;

use crumb_schema::integrations::ConsentModeKind;
use crumb_schema::{Category, SiteConfig};
use html5gum::{DefaultEmitter, Token, Tokenizer};

use crate::csp::{Fetch, Policy, Script, Verdict};
use crate::lint::Problem;

/// What a page holds for Crumb: the problems, and how many elements it
/// gates.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PageReport {
    pub gated: usize,
    pub problems: Vec<Problem>,
}

/// Script types HTML runs as JavaScript (the JavaScript MIME type essences,
/// and `module`); a missing or empty `type` is JavaScript too.
const JAVASCRIPT_TYPES: &[&str] = &[
    "module",
    "text/javascript",
    "application/javascript",
    "application/ecmascript",
    "application/x-ecmascript",
    "application/x-javascript",
    "text/ecmascript",
    "text/javascript1.0",
    "text/javascript1.1",
    "text/javascript1.2",
    "text/javascript1.3",
    "text/javascript1.4",
    "text/javascript1.5",
    "text/jscript",
    "text/livescript",
    "text/x-ecmascript",
    "text/x-javascript",
];

/// Page-speed tools that keep scripts from running while a page loads by
/// rewriting their tags, so that the parser skips them, and then run them
/// all themselves: once the page has loaded (Rocket Loader), or on the
/// visitor's first scroll, tap or key, or after a set delay (the
/// WordPress plugins). They hold
/// scripts back for speed, never for consent: a vendor's tag held so still
/// runs before any choice, and Crumb's own tag held so shows the banner
/// late. Found by the type each gives a held script (as a live page shows
/// it: `curl ... | crumb lint site.json --page -`).
struct Delayer {
    name: &'static str,
    /// Whether a script's (lower-cased, trimmed) type is this tool's.
    holds: fn(&str) -> bool,
    /// The attribute the tool moves a held script's address to (it may
    /// keep `src`, and inline scripts have neither).
    address: &'static str,
    /// An attribute the tool adds to every script it holds, where its type
    /// is not its own alone (another consent tool uses it too).
    mark: Option<&'static str>,
    /// How to keep one of Crumb's tags out of it.
    exempt: Exemption,
}

/// How a page-speed tool is told to leave a script alone.
enum Exemption {
    /// An attribute on the script's tag.
    Attribute(&'static str),
    /// The script's file in the list of those it does not delay, in its
    /// settings.
    Listed,
}

impl Delayer {
    /// How to keep `file` (`crumb.js`), whose tag is `tag` (`Crumb's
    /// tag`), out of this tool.
    fn exemption(&self, file: &str, tag: &str) -> String {
        match self.exempt {
            Exemption::Attribute(attribute) => {
                format!("add {attribute} to {tag}, so that it leaves the tag as it is")
            }
            Exemption::Listed => format!("add {file} to the scripts it excludes from the delay"),
        }
    }
}

const DELAYERS: &[Delayer] = &[
    Delayer {
        name: "Cloudflare's Rocket Loader",
        holds: |kind| kind.ends_with("-text/javascript"),
        address: "src",
        mark: None,
        exempt: Exemption::Attribute("data-cfasync=\"false\""),
    },
    Delayer {
        name: "WP Rocket's \"Delay JavaScript execution\"",
        holds: |kind| kind == "rocketlazyloadscript" || kind == "text/rocketlazyloadscript",
        address: "data-rocket-src",
        mark: None,
        exempt: Exemption::Listed,
    },
    Delayer {
        name: "LiteSpeed Cache's delayed JavaScript",
        holds: |kind| kind == "litespeed/javascript",
        address: "data-src",
        mark: None,
        exempt: Exemption::Attribute("data-no-optimize=\"1\""),
    },
    Delayer {
        name: "Perfmatters' \"Delay JavaScript\"",
        holds: |kind| kind == "pmdelayedscript",
        address: "src",
        mark: None,
        exempt: Exemption::Listed,
    },
    Delayer {
        name: "WP Meteor",
        holds: |kind| kind == "javascript/blocked",
        address: "data-src",
        mark: Some("data-wpmeteor-after"),
        exempt: Exemption::Attribute("data-wpmeteor-nooptimize=\"true\""),
    },
];

/// The classes Crumb's stylesheets style on its own elements
/// (`widget/crumb.css`, `dialog.css`, `declaration.css`; a test keeps the
/// list whole). The banner's rules select by these names alone, so a page
/// element of the site's with one of them gets Crumb's rules; and a site's
/// rules for the name reach Crumb's element (the dialog's parts too,
/// whose rules hold inside the dialog only). (`crumb` itself, a common
/// name for breadcrumbs, is not one: Crumb's rules for it select only
/// Crumb's own boxes.)
const CRUMB_CLASSES: &[&str] = &[
    "crumb-a",
    "crumb-actions",
    "crumb-banner",
    "crumb-btn",
    "crumb-cat",
    "crumb-cookies",
    "crumb-decl",
    "crumb-decl-services",
    "crumb-decl-table",
    "crumb-desc",
    "crumb-head",
    "crumb-meta",
    "crumb-modal",
    "crumb-ph",
    "crumb-reopen",
    "crumb-svc",
    "crumb-switch",
    "crumb-text",
    "crumb-title",
    "crumb-x",
];

/// Whether HTML runs a script of this (trimmed, lower-cased) type as
/// JavaScript: no type, or one of [`JAVASCRIPT_TYPES`].
fn is_javascript(kind: &str) -> bool {
    kind.is_empty() || JAVASCRIPT_TYPES.contains(&kind)
}

/// Checks the page `html` against `site`'s config.
pub fn lint_page(site: &SiteConfig, html: &str) -> PageReport {
    let mut report = PageReport::default();
    let lines = Lines::of(html);
    // Whether the elements read so far include the root of an app that
    // Vue hydrates (see `Element::check_hydrated_embed`).
    let mut in_vue_app = false;
    // Inside a `<picture>` (up to its image, which HTML puts last): whether
    // one of its `<source>`s offers addresses (see
    // `Element::check_picture_image`).
    let mut picture_sources: Option<bool> = None;
    let (headers, body_at) = response_head(html);
    let page = elements(&html[body_at..], &lines, body_at);
    let policies = PagePolicies::of(headers, &page);
    // Crumb's signals script, the page's first: the vendors' tags that
    // load at once under its signals come after it.
    let signals = page.iter().position(|e| e.signals_site().is_some());
    for (i, element) in page.iter().enumerate() {
        let gated_before = report.gated;
        element.check(site, &mut report);
        // What the gate holds, its release must get past the page's policy.
        if report.gated > gated_before {
            element.check_release_policy(&policies, &mut report);
        }
        if element.name == "script" && element.is_crumbs_tag() {
            element.check_widget_policy(&policies, &mut report);
        }
        if signals.is_none_or(|at| i < at) {
            element.check_signals_ahead(site, signals.map(|at| page[at].line), &mut report);
        }
        if element.is_wp_consent_api() {
            element.check_wp_consent_api(site, signals.is_some(), &mut report);
        }
        match element.name.as_str() {
            "picture" => picture_sources = Some(false),
            "source" if picture_sources.is_some() && element.offers_addresses() => {
                picture_sources = Some(true);
            }
            "img" => {
                // The image ends its picture.
                let sources_offer_addresses = picture_sources.take() == Some(true);
                if sources_offer_addresses {
                    element.check_picture_image(&mut report);
                }
            }
            _ => {}
        }
        in_vue_app = in_vue_app || element.is_vue_root();
        if let Some(hydrator) = element.hydrated_by.or(in_vue_app.then_some(Hydrator::Vue)) {
            element.check_hydrated_embed(hydrator, &mut report);
        }
        if element.name == "noscript" {
            for inner in elements(element.text, &lines, element.text_at) {
                inner.check_noscript(&mut report);
            }
        }
    }
    report
}

/// A response's head before the page, as `curl -si` prints it (one per
/// response, a redirect's and the page's with `-L`): the values of the
/// last one's `Content-Security-Policy` headers, and where the page
/// starts. A plain page has none.
fn response_head(input: &str) -> (Vec<&str>, usize) {
    let mut at = 0;
    let mut policies = Vec::new();
    while input[at..].starts_with("HTTP/") {
        let head = &input[at..];
        let Some(end) = head
            .find("\r\n\r\n")
            .map(|e| e + 4)
            .or_else(|| head.find("\n\n").map(|e| e + 2))
        else {
            break;
        };
        policies = head[..end]
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(name, _)| name.trim().eq_ignore_ascii_case("content-security-policy"))
            .map(|(_, value)| value.trim())
            .collect();
        at += end;
    }
    (policies, at)
}

/// The Content-Security-Policy a page runs under: the policies of its
/// headers (when the page came with them) and of its `<meta
/// http-equiv>` tags, each enforced on its own; and the page's origin,
/// which `'self'` names, where the page says it (its canonical address).
struct PagePolicies {
    policies: Vec<Policy>,
    origin: Option<String>,
}

impl PagePolicies {
    fn of(headers: Vec<&str>, page: &[Element<'_>]) -> PagePolicies {
        let mut policies: Vec<Policy> =
            headers.into_iter().flat_map(Policy::parse_header).collect();
        let mut origin = None;
        for element in page {
            let is = |attr: &str, value: &str| {
                element.attr(attr).is_some_and(|v| {
                    v.split_ascii_whitespace()
                        .any(|v| v.eq_ignore_ascii_case(value))
                })
            };
            if element.name == "meta" && is("http-equiv", "content-security-policy") {
                policies.push(Policy::parse(element.attr("content").unwrap_or("")));
            }
            let canonical = match element.name.as_str() {
                "link" if is("rel", "canonical") => element.attr("href"),
                "meta" if is("property", "og:url") => element.attr("content"),
                _ => None,
            };
            if origin.is_none() {
                origin = canonical.and_then(origin_of);
            }
        }
        PagePolicies { policies, origin }
    }

    /// The first directive of the page's policies that blocks what
    /// `verdict` asks of one policy about `address` (given the page's
    /// origin). A vendor's address is never the page's own, so `'self'`
    /// does not allow it even where the page names no origin.
    fn blocking(
        &self,
        address: Option<&str>,
        verdict: impl Fn(&Policy, Option<&str>) -> Verdict,
    ) -> Option<&'static str> {
        let origin = self.origin.as_deref().or_else(|| {
            address
                .filter(|a| vendor_in(a).is_some())
                .map(|_| "https://page.invalid")
        });
        self.policies.iter().find_map(|p| match verdict(p, origin) {
            Verdict::Blocked(directive) => Some(directive),
            Verdict::Allowed | Verdict::Unknown => None,
        })
    }
}

/// `https://shop.example` of an absolute web address.
fn origin_of(address: &str) -> Option<String> {
    let (scheme, rest) = address.trim().split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (matches!(scheme, "http" | "https") && !host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// The start tags of `part` (which begins `offset` bytes into the page
/// whose `lines` these are), each with the raw text up to its end tag for
/// the elements whose content HTML reads as text (a script's code, a
/// style sheet, a `<noscript>` block as a browser running scripts reads
/// it).
fn elements<'a>(part: &'a str, lines: &Lines, offset: usize) -> Vec<Element<'a>> {
    let mut emitter = DefaultEmitter::<usize>::new_with_span();
    // A tokenizer alone reads a script's text as markup; HTML's tree
    // builder would switch it to the script's own state.
    emitter.naively_switch_states(true);
    let mut out = Vec::new();
    let mut open = OpenElements::default();
    // Reading a `&str` cannot fail: the error type is `Infallible`.
    for Ok(token) in Tokenizer::new_with_emitter(part, emitter) {
        let tag = match token {
            Token::StartTag(tag) => tag,
            Token::EndTag(end) => {
                // An end tag closes its element and any left open inside
                // it (`<p>` and `<li>` need no end tag); a stray one
                // closes nothing.
                open.close(&end.name);
                continue;
            }
            _ => continue,
        };
        let name = String::from_utf8_lossy(&tag.name).into_owned();
        let attrs: BTreeMap<String, String> = tag
            .attributes
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        let rest = part.get(tag.span.end..).unwrap_or("");
        let text = match name.as_str() {
            "script" | "noscript" | "style" => &rest[..end_tag(rest, &name).unwrap_or(rest.len())],
            _ => "",
        };
        open.end_siblings_of(&name);
        let around = open.here();
        if !tag.self_closing && !VOID_ELEMENTS.contains(&name.as_str()) {
            open.open(&name, &attrs);
        }
        out.push(Element {
            line: lines.line(offset + tag.span.start),
            text_at: offset + tag.span.end,
            name,
            attrs,
            text,
            hydrated_by: around.hydrated_by(),
            in_shadow_root: around.in_shadow_root,
        });
    }
    out
}

/// A framework that hydrates server-rendered HTML and takes a blocked
/// embed's placeholder for an element of its own.
#[derive(Clone, Copy)]
enum Hydrator {
    Vue,
    Angular,
    Solid,
}

impl Hydrator {
    /// What the placeholder does to the page, and what the site does
    /// about it.
    fn harm(self) -> &'static str {
        match self {
            Hydrator::Vue => {
                "gets a placeholder that Vue, hydrating this server-rendered page, takes for a mismatch: it rebuilds what follows, so a gated script there can run twice or not at all; render the embed on the client only (Nuxt's <ClientOnly>, or after onMounted)"
            }
            Hydrator::Angular => {
                "gets a placeholder that Angular, hydrating this server-rendered component, takes for the iframe: it binds each later node of the component to the element before it, so the component's bindings and listeners fail for the page's life; render the embed on the client only (@defer), or mark the component's host ngSkipHydration"
            }
            Hydrator::Solid => {
                "gets a placeholder that Solid, hydrating this server-rendered component, takes for the iframe: it finds the component's later nodes by counting siblings, so their bindings and listeners land one element too early for the page's life; render the embed on the client only (inside <Show when={mounted()}>, set in onMount, or SolidStart's clientOnly)"
            }
        }
    }
}

/// The elements whose end tag is still to come, as far as a token reader
/// can tell, each with what holds inside it. Each element costs the same
/// however deep or unclosed the page's markup.
#[derive(Default)]
struct OpenElements {
    stack: Vec<(String, Surroundings)>,
}

impl OpenElements {
    /// HTML's parser nests elements no deeper than this (Chromium's
    /// limit); what opens deeper is not followed.
    const MAX_DEPTH: usize = 512;

    /// Elements that a sibling of their kind ends (`<li>one<li>two`).
    const ENDED_BY_A_SIBLING: [&str; 8] = ["p", "li", "dt", "dd", "option", "tr", "td", "th"];

    /// What holds for an element that starts here.
    fn here(&self) -> Surroundings {
        self.stack.last().map(|(_, s)| *s).unwrap_or_default()
    }

    fn open(&mut self, name: &str, attrs: &BTreeMap<String, String>) {
        if self.stack.len() < Self::MAX_DEPTH {
            let inside = self.here().inside(name, attrs);
            self.stack.push((name.to_owned(), inside));
        }
    }

    /// Before `name` starts: ends an open element of that kind that
    /// needs no end tag, if it is the innermost.
    fn end_siblings_of(&mut self, name: &str) {
        if Self::ENDED_BY_A_SIBLING.contains(&name)
            && self.stack.last().is_some_and(|(open, _)| open == name)
        {
            self.stack.pop();
        }
    }

    /// An end tag closes its element and any left open inside it; a
    /// stray one closes nothing.
    fn close(&mut self, name: &[u8]) {
        if let Some(at) = self
            .stack
            .iter()
            .rposition(|(open, _)| open.as_bytes() == name)
        {
            self.stack.truncate(at);
        }
    }
}

/// What the elements around an element say of it.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Surroundings {
    /// Inside a component that Angular's server renderer marked for
    /// hydration (`ngh`, its place in the hydration data).
    in_hydrated_component: bool,
    /// Inside an element that Solid's server renderer marked for
    /// hydration (`data-hk`, its hydration key): the root of a
    /// component's template, whose other nodes Solid finds by counting
    /// siblings from it.
    in_solid_template: bool,
    /// Inside a component host that opts out (`ngSkipHydration`): Angular
    /// renders it afresh with all inside it, whatever marks the server
    /// left there.
    in_skipped_component: bool,
    /// Inside a declarative shadow root (`<template
    /// shadowrootmode="open">`): the browser puts what is inside in the
    /// shadow root of the element around it.
    in_shadow_root: bool,
}

impl Surroundings {
    fn hydrated_by_angular(self) -> bool {
        self.in_hydrated_component && !self.in_skipped_component
    }

    /// The framework that hydrates an element standing here, if its
    /// markup says (Vue's root is found in the page's order instead).
    fn hydrated_by(self) -> Option<Hydrator> {
        if self.hydrated_by_angular() {
            Some(Hydrator::Angular)
        } else if self.in_solid_template {
            Some(Hydrator::Solid)
        } else {
            None
        }
    }

    /// What holds inside an element `name` with `attrs` that stands here.
    fn inside(self, name: &str, attrs: &BTreeMap<String, String>) -> Surroundings {
        Surroundings {
            in_hydrated_component: self.in_hydrated_component || attrs.contains_key("ngh"),
            in_solid_template: self.in_solid_template || attrs.contains_key("data-hk"),
            in_skipped_component: self.in_skipped_component
                || attrs.contains_key("ngskiphydration"),
            in_shadow_root: self.in_shadow_root
                || (name == "template" && attrs.contains_key("shadowrootmode")),
        }
    }
}

/// HTML's elements that have no end tag.
const VOID_ELEMENTS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Where `</name` starts in `text`, in any letter case.
fn end_tag(text: &str, name: &str) -> Option<usize> {
    let needle = format!("</{name}");
    text.as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The vendor signal of a site's config that lets a vendor's tag load
/// before any choice, because the vendor then holds itself back.
#[derive(Clone, Copy)]
enum Signal {
    /// Google Consent Mode in either mode: what Google Tag Manager needs,
    /// whose container then fires each tag as its consent settings and
    /// triggers (Crumb's `crumb_consent_update` event) say.
    GoogleConsentMode,
    GoogleAdvanced,
    Meta,
    MicrosoftUet,
    MicrosoftClarity,
    Matomo,
    HubSpot,
    TikTok,
}

impl Signal {
    /// How a site turns it on.
    fn advice(self) -> &'static str {
        match self {
            Signal::GoogleConsentMode => {
                "turn on Google Consent Mode (integrations.google_consent_mode) and let the container's consent settings and triggers hold its tags back"
            }
            Signal::GoogleAdvanced => {
                "turn on Google Consent Mode in its advanced mode (integrations.google_consent_mode)"
            }
            Signal::Meta => "turn on its consent signal (integrations.meta_pixel)",
            Signal::MicrosoftUet => "turn on its consent signal (integrations.microsoft_uet)",
            Signal::MicrosoftClarity => {
                "turn on its consent signal (integrations.microsoft_clarity)"
            }
            Signal::Matomo => "turn on its consent signal (integrations.matomo)",
            Signal::HubSpot => "turn on its consent signal (integrations.hubspot)",
            Signal::TikTok => "turn on its consent signal (integrations.tiktok_pixel)",
        }
    }

    fn on(self, site: &SiteConfig) -> bool {
        let i = &site.integrations;
        match self {
            Signal::GoogleConsentMode => i.google_consent_mode.is_some(),
            Signal::GoogleAdvanced => i
                .google_consent_mode
                .as_ref()
                .is_some_and(|g| g.mode == ConsentModeKind::Advanced),
            Signal::Meta => i.meta_pixel.is_some(),
            Signal::MicrosoftUet => i.microsoft_uet.is_some(),
            Signal::MicrosoftClarity => i.microsoft_clarity.is_some(),
            Signal::Matomo => i.matomo.is_some(),
            Signal::HubSpot => i.hubspot.is_some(),
            Signal::TikTok => i.tiktok_pixel.is_some(),
        }
    }
}

/// A tracking vendor whose tags sites paste as the vendor ships them.
struct Vendor {
    name: &'static str,
    /// Parts of the addresses its tags load from (its snippets carry
    /// them as text), in lower case.
    marks: &'static [&'static str],
    /// The signal that lets its script load before any choice.
    signal: Option<Signal>,
    /// Whether only its iframes count: pages' own scripts name its
    /// address too (a click-to-play facade that builds the iframe).
    embed_only: bool,
    /// Whether it may be set up for audience measurement that some
    /// regulators exempt from consent.
    may_be_exempt: bool,
}

impl Vendor {
    /// Whether the site's config turns on this vendor's signal, so its
    /// script may load before any choice (it then waits for the choice
    /// itself).
    fn waits_under_signal(&self, site: &SiteConfig) -> bool {
        self.signal.is_some_and(|s| s.on(site))
    }
}

/// A vendor with no signal of its own, whose every tag counts, and which
/// no regulator exempts: most of them.
const fn tag(name: &'static str, marks: &'static [&'static str]) -> Vendor {
    Vendor {
        name,
        marks,
        signal: None,
        embed_only: false,
        may_be_exempt: false,
    }
}

/// Well-known tracking vendors.
const VENDORS: &[Vendor] = &[
    Vendor {
        signal: Some(Signal::GoogleAdvanced),
        ..tag(
            "the Google tag",
            &[
                "googletagmanager.com/gtag/js",
                "google-analytics.com/analytics.js",
                "google-analytics.com/ga.js",
            ],
        )
    },
    Vendor {
        signal: Some(Signal::GoogleConsentMode),
        ..tag(
            "Google Tag Manager",
            &[
                "googletagmanager.com/gtm.js",
                "googletagmanager.com/ns.html",
            ],
        )
    },
    tag(
        "Google's ads",
        &["doubleclick.net/", "googleadservices.com/"],
    ),
    Vendor {
        signal: Some(Signal::Meta),
        ..tag(
            "the Meta Pixel",
            &[
                "connect.facebook.net/",
                "facebook.com/tr?",
                "facebook.com/tr/",
                "facebook.com/plugins/",
                "instagram.com/embed.js",
            ],
        )
    },
    Vendor {
        signal: Some(Signal::MicrosoftUet),
        ..tag("Microsoft UET", &["bat.bing.com/"])
    },
    Vendor {
        signal: Some(Signal::MicrosoftClarity),
        ..tag("Microsoft Clarity", &["clarity.ms/tag/"])
    },
    Vendor {
        signal: Some(Signal::Matomo),
        may_be_exempt: true,
        ..tag(
            "Matomo",
            &["matomo.js", "piwik.js", "matomo.php", "piwik.php"],
        )
    },
    Vendor {
        may_be_exempt: true,
        ..tag("Piwik PRO", &["containers.piwik.pro/"])
    },
    tag("Hotjar", &["static.hotjar.com/"]),
    tag("Contentsquare", &["t.contentsquare.net/uxa/"]),
    tag("VWO", &["visualwebsiteoptimizer.com/"]),
    tag(
        "Optimizely",
        &["cdn.optimizely.com/js/", "cdn.optimizely.com/public/"],
    ),
    tag("AB Tasty", &["try.abtasty.com/"]),
    Vendor {
        signal: Some(Signal::HubSpot),
        ..tag(
            "HubSpot's tracking code",
            // `js-eu1.` and `js-na2.` too, for portals in those regions.
            &["hs-scripts.com/", "hs-analytics.net/"],
        )
    },
    tag("Segment", &["cdn.segment.com/analytics.js"]),
    tag("Mixpanel", &["cdn.mxpnl.com/libs/"]),
    // Its browser SDK, and its unified script (`cdn.eu.amplitude.com` in
    // the EU).
    tag(
        "Amplitude",
        &["amplitude.com/libs/", "amplitude.com/script/"],
    ),
    tag(
        "Heap",
        &["cdn.heapanalytics.com/js/", "heap-api.com/config/"],
    ),
    tag("FullStory", &["edge.fullstory.com/s/fs.js"]),
    tag("Mouseflow", &["cdn.mouseflow.com/projects/"]),
    tag("Crazy Egg", &["script.crazyegg.com/pages/"]),
    tag("Lucky Orange", &["tools.luckyorange.com/core/"]),
    tag(
        "Yandex Metrica",
        &["mc.yandex.ru/metrika/", "mc.yandex.com/metrika/"],
    ),
    tag(
        "a tag manager (Adobe's or Tealium's)",
        &["assets.adobedtm.com/", "tags.tiqcdn.com/utag/"],
    ),
    tag("the Intercom Messenger", &["widget.intercom.io/widget/"]),
    tag(
        "Zendesk's messaging",
        &["static.zdassets.com/ekr/snippet.js"],
    ),
    tag("the tawk.to chat", &["embed.tawk.to/"]),
    tag("the Drift chat", &["js.driftt.com/"]),
    tag("the Crisp chat", &["client.crisp.chat/l.js"]),
    tag("the Tidio chat", &["code.tidio.co/"]),
    tag("the LiveChat widget", &["cdn.livechatinc.com/tracking.js"]),
    tag(
        "Smartlook",
        &[
            "web-sdk.smartlook.com/recorder.js",
            "rec.smartlook.com/recorder.js",
        ],
    ),
    tag("Klaviyo", &["static.klaviyo.com/onsite/js/"]),
    tag(
        "Mailchimp's site script",
        &["chimpstatic.com/mcjs-connected/"],
    ),
    tag("Salesforce Pardot", &["pi.pardot.com/pd.js"]),
    tag("Marketo Munchkin", &["munchkin.marketo.net/munchkin.js"]),
    tag("AdRoll", &["s.adroll.com/j/"]),
    tag(
        "Calendly's embed",
        &["assets.calendly.com/assets/external/widget.js"],
    ),
    tag(
        "Trustpilot's widgets",
        &["widget.trustpilot.com/bootstrap/"],
    ),
    tag("Disqus", &["disqus.com/embed.js"]),
    tag("ShareThis", &["platform-api.sharethis.com/js/"]),
    tag(
        "the LinkedIn Insight Tag",
        &["snap.licdn.com/", "px.ads.linkedin.com/"],
    ),
    Vendor {
        signal: Some(Signal::TikTok),
        ..tag("the TikTok Pixel", &["analytics.tiktok.com/"])
    },
    tag("TikTok's embed script", &["tiktok.com/embed.js"]),
    tag(
        "the Pinterest Tag",
        &["s.pinimg.com/ct/", "ct.pinterest.com/"],
    ),
    tag(
        "the X (Twitter) Pixel",
        &[
            "static.ads-twitter.com/",
            "analytics.twitter.com/",
            "platform.twitter.com/widgets.js",
        ],
    ),
    tag(
        "the Reddit Pixel",
        &["redditstatic.com/ads/", "alb.reddit.com/"],
    ),
    tag("the Snap Pixel", &["sc-static.net/scevent.min.js"]),
    tag("the Quora Pixel", &["a.quora.com/qevents.js"]),
    tag(
        "Criteo",
        &["static.criteo.net/js/", "dynamic.criteo.com/js/"],
    ),
    tag("Taboola", &["cdn.taboola.com/libtrc/"]),
    tag("Outbrain", &["amplify.outbrain.com/cp/obtp.js"]),
    Vendor {
        embed_only: true,
        // The "privacy-enhanced" player too: it sets no cookie until
        // played, but the page still loads it from Google, which then
        // keeps its data in the browser's storage.
        ..tag(
            "a YouTube embed",
            &["youtube.com/embed/", "youtube-nocookie.com/embed/"],
        )
    },
    Vendor {
        embed_only: true,
        ..tag("a Vimeo embed", &["player.vimeo.com/video/"])
    },
    Vendor {
        embed_only: true,
        ..tag("a Google Maps embed", &["google.com/maps/embed"])
    },
    tag("the Google Maps API", &["maps.googleapis.com/maps/api/js"]),
    // The players' own scripts, which pages load to build (and control)
    // the embeds themselves: YouTube's official snippet adds its script
    // from an inline one.
    tag(
        "the YouTube IFrame Player API",
        &["youtube.com/iframe_api", "youtube.com/player_api"],
    ),
    tag("the Vimeo Player API", &["player.vimeo.com/api/player.js"]),
    // Video facades, wherever the site serves them from: they show the
    // video's thumbnail from YouTube's or Vimeo's servers at once, and
    // load the player on a click, which is no choice about cookies.
    tag(
        "a YouTube facade (lite-youtube-embed, lite-youtube)",
        &["lite-yt-embed", "lite-youtube"],
    ),
    tag("a Vimeo facade (lite-vimeo)", &["lite-vimeo"]),
];

/// A service that serves web fonts from its own servers, which every
/// visitor's browser then contacts.
struct FontService {
    rule: &'static str,
    name: &'static str,
    /// Who runs the servers.
    owner: &'static str,
    /// Where its style sheets, scripts and font files load from.
    hosts: &'static [&'static str],
    /// What else there is to know about it.
    note: &'static str,
    /// How a site does without contacting it before a choice.
    fix: &'static str,
}

const FONT_SERVICES: &[FontService] = &[
    FontService {
        rule: "google-fonts",
        name: "Google Fonts",
        owner: "Google",
        hosts: &["fonts.googleapis.com", "fonts.gstatic.com"],
        note: "a German court awarded a visitor damages for it: LG München I, 3 O 17493/20, 2022",
        fix: "serve the font files from the site itself, or add the style sheet from a gated script (see the README's \"Embedding the widget\")",
    },
    FontService {
        rule: "adobe-fonts",
        name: "Adobe Fonts",
        owner: "Adobe",
        hosts: &["use.typekit.net", "p.typekit.net"],
        note: "with the page's host name, which Adobe's notice for Adobe Fonts says it collects for billing",
        fix: "add its style sheet or script from a gated script (see the README's \"Embedding the widget\"), or use fonts the site may serve itself",
    },
];

/// The font service `text` (an address, or a style sheet) loads from.
fn font_service_in(text: &str) -> Option<&'static FontService> {
    let text = text.to_ascii_lowercase();
    FONT_SERVICES
        .iter()
        .find(|f| f.hosts.iter().any(|h| text.contains(h)))
}

/// The host of an address (`https://www.example.com/...`,
/// `//www.example.com`), in lower case.
fn host_of(address: &str) -> Option<String> {
    let address = address.trim();
    let rest = address
        .split_once("//")
        .filter(|(scheme, _)| scheme.is_empty() || scheme.ends_with(':'))?
        .1;
    let host = rest.split(['/', '?', '#', ':']).next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The vendors one of whose hosts `address` is on (a host their tags load
/// from, or a subdomain of one). Vendors whose embeds alone count are
/// left out: a page connects to Google's own host for many other ends.
fn vendors_at_host(address: &str) -> Vec<&'static Vendor> {
    let Some(host) = host_of(address) else {
        return Vec::new();
    };
    VENDORS
        .iter()
        .filter(|v| !v.embed_only)
        .filter(|v| {
            v.marks.iter().any(|mark| {
                // A mark's host is what comes before its path; self-hosted
                // vendors' marks (`matomo.js`) have none.
                let Some((mark_host, _)) = mark.split_once('/') else {
                    return false;
                };
                host == mark_host || host.ends_with(&format!(".{mark_host}"))
            })
        })
        .collect()
}

/// The vendor whose tag `text` (an address, or a snippet's code) loads.
fn vendor_in(text: &str) -> Option<&'static Vendor> {
    let text = text.to_ascii_lowercase();
    VENDORS
        .iter()
        .find(|v| v.marks.iter().any(|m| text.contains(m)))
}

/// Whether an embed's `src` loads anything before Crumb has looked at it:
/// an empty one, `about:blank` and a `data:` image (lazy loaders'
/// stand-ins beside a `data-src`) do not.
fn loads_something(src: &str) -> bool {
    let src = src.trim().to_ascii_lowercase();
    !(src.is_empty() || src == "about:blank" || src.starts_with("data:"))
}

/// Another consent tool's marking on an element it holds back: how a page
/// that moves to Crumb from that tool still marks its tags. Crumb reads
/// none of it, so such an element, inert as that tool left it, never runs.
struct OtherMarking {
    tool: &'static str,
    /// The attribute that carries the marking.
    attr: &'static str,
    /// Whether its value is the tool's marking (a class attribute holds
    /// the page's own classes too).
    marks: fn(&str) -> bool,
    /// Attributes of which the tool's markup has one beside it, where the
    /// attribute alone is too common a name to tell.
    beside: &'static [&'static str],
    /// Crumb's category for one of the tool's values, where there is one.
    category: fn(&str) -> Option<Category>,
}

/// A tool's marking in an attribute of its own, whatever its value.
const fn marking(
    tool: &'static str,
    attr: &'static str,
    category: fn(&str) -> Option<Category>,
) -> OtherMarking {
    OtherMarking {
        tool,
        attr,
        marks: |_| true,
        beside: &[],
        category,
    }
}

/// The consent tools whose markings sites most often carry over.
const OTHER_MARKINGS: &[OtherMarking] = &[
    OtherMarking {
        // `ignore` tells Cookiebot to leave a script alone, not to hold it.
        marks: |value| value.trim() != "ignore",
        ..marking("Cookiebot", "data-cookieconsent", |value| match value {
            "preferences" => Some(Category::Functional),
            "statistics" => Some(Category::Analytics),
            "marketing" => Some(Category::Marketing),
            _ => None,
        })
    },
    marking(
        "vanilla-cookieconsent 2",
        "data-cookiecategory",
        Category::parse,
    ),
    marking("CookieYes", "data-cookieyes", |value| {
        match value.trim_start_matches("cookieyes-") {
            "functional" => Some(Category::Functional),
            "analytics" | "performance" => Some(Category::Analytics),
            "advertisement" => Some(Category::Marketing),
            _ => None,
        }
    }),
    // iubenda's purposes: 2 basic interactions, 3 experience, 4
    // measurement, 5 advertising.
    marking("iubenda", "data-iub-purposes", |value| match value {
        "2" | "3" => Some(Category::Functional),
        "4" => Some(Category::Analytics),
        "5" => Some(Category::Marketing),
        _ => None,
    }),
    marking("Usercentrics", "data-usercentrics", |_| None),
    OtherMarking {
        beside: &["data-type", "data-src", "data-href"],
        ..marking("Klaro", "data-name", |_| None)
    },
    OtherMarking {
        marks: |class| class.contains("optanon-category-"),
        ..marking("OneTrust", "class", |class| {
            // OneTrust's default groups: C0002 performance, C0003
            // functional, C0004 targeting, C0005 social media.
            let groups = class
                .split_ascii_whitespace()
                .find_map(|c| c.strip_prefix("optanon-category-"))?;
            groups
                .split('-')
                .filter_map(|g| match g {
                    "C0003" => Some(Category::Functional),
                    "C0002" => Some(Category::Analytics),
                    "C0004" | "C0005" => Some(Category::Marketing),
                    _ => None,
                })
                .max()
        })
    },
];

/// What site code of another consent tool waits for or asks (its events,
/// its API), which no longer comes once Crumb asks instead.
const OTHER_APIS: &[(&str, &str)] = &[
    ("CookiebotOnAccept", "Cookiebot"),
    ("CookiebotOnDecline", "Cookiebot"),
    ("CookiebotOnConsentReady", "Cookiebot"),
    ("Cookiebot.consent", "Cookiebot"),
    ("OptanonWrapper", "OneTrust"),
    ("OnetrustActiveGroups", "OneTrust"),
    ("OneTrust.OnConsentChanged", "OneTrust"),
    ("CookieConsent.acceptedCategory", "vanilla-cookieconsent"),
    ("cc:onConsent", "vanilla-cookieconsent"),
    ("cc:onChange", "vanilla-cookieconsent"),
    ("klaro.getManager", "Klaro"),
    ("cookieyes_consent_update", "CookieYes"),
];

/// Where a page's line breaks are, so each element's line is found by a
/// binary search rather than by counting from the top (a page of half a
/// million elements took minutes so).
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        let newlines = text.bytes().enumerate().filter(|(_, b)| *b == b'\n');
        Lines(newlines.map(|(i, _)| i).collect())
    }

    /// The 1-based line of byte `offset`.
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&newline| newline < offset) + 1
    }
}

struct Element<'a> {
    name: String,
    attrs: BTreeMap<String, String>,
    line: usize,
    /// A script's code or a `<noscript>` block's markup, as written.
    text: &'a str,
    /// Where `text` starts in the page.
    text_at: usize,
    /// The framework that hydrates the element, as its surroundings say:
    /// Angular inside a component that Angular's server renderer marked
    /// for hydration (`ngh`) and inside no component whose host opts out
    /// (`ngSkipHydration`); Solid inside a template its server renderer
    /// marked (`data-hk`).
    hydrated_by: Option<Hydrator>,
    /// Whether the element is in a declarative shadow root, where the
    /// widget's gate does not look (its selector and its observer see the
    /// document's own elements only).
    in_shadow_root: bool,
}

impl Element<'_> {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    /// A script's type, as HTML reads it to decide whether it is
    /// JavaScript: trimmed, in lower case.
    fn script_type(&self) -> String {
        self.attr("type").unwrap_or("").trim().to_ascii_lowercase()
    }

    /// The page-speed tool that holds this script back, if one does.
    fn delayer(&self) -> Option<&'static Delayer> {
        if self.name != "script" {
            return None;
        }
        let kind = self.script_type();
        DELAYERS
            .iter()
            .find(|d| (d.holds)(&kind) && d.mark.is_none_or(|m| self.attr(m).is_some()))
    }

    /// The address a script loads: its `src`, or where a page-speed tool
    /// that holds it back has moved it.
    fn script_address(&self) -> &str {
        self.delayer()
            .and_then(|d| self.attr(d.address))
            .or_else(|| self.attr("src"))
            .unwrap_or("")
    }

    /// [`Element::script_address`] without its query or fragment.
    fn script_path(&self) -> &str {
        let address = self.script_address();
        address.split(['?', '#']).next().unwrap_or(address)
    }

    /// The start tag with the attributes that matter here, values cut
    /// short: enough to find it in the page.
    fn describe(&self) -> String {
        const SHOWN: [&str; 8] = [
            "rel",
            "type",
            "src",
            "href",
            "data-src",
            "data-category",
            "data-service",
            "data-site",
        ];
        // Other tools' attributes for an address that waits
        // (`data-cookieblock-src`, lazy loaders' `data-lazy-src`) too.
        let waiting = self
            .attrs
            .keys()
            .map(String::as_str)
            .filter(|k| k.ends_with("-src") && !SHOWN.contains(k));
        let mut out = format!("<{}", self.name);
        for name in SHOWN.into_iter().chain(waiting) {
            if let Some(value) = self.attr(name) {
                let short: String = value.chars().take(60).collect();
                let more = if short.len() < value.len() { "..." } else { "" };
                out.push_str(&format!(" {name}=\"{short}{more}\""));
            }
        }
        out.push('>');
        out
    }

    fn problem(&self, report: &mut PageReport, rule: &'static str, what: &str) {
        let path = format!("line {}", self.line);
        let message = format!("{path}: {}: {what}", self.describe());
        report.problems.push(Problem {
            rule,
            path,
            message,
        });
    }

    fn check(&self, site: &SiteConfig, report: &mut PageReport) {
        self.check_crumb_class(report);
        if let Some(named) = self.signals_site() {
            self.check_signals_tag(site, named, report);
            return;
        }
        if self.name == "script" && self.is_crumbs_tag() {
            self.check_widget_tag(site, report);
            return;
        }
        if self.name == "script" {
            self.check_other_api(report);
        }
        let Some(category) = self.attr("data-category") else {
            if self.check_other_marking(report) {
                return;
            }
            return self.check_unmarked(site, report);
        };
        // Pages use `data-category` for their own ends too (a shop's
        // product filters): an element counts as marked for Crumb when it
        // names one of Crumb's categories or a service, or when the widget
        // would gate it.
        let for_crumb = self.names_crumbs_category();
        let fail = |report: &mut PageReport, rule, what| {
            if for_crumb {
                self.problem(report, rule, what);
            }
        };
        match self.name.as_str() {
            "script" => {
                // HTML trims the type before it looks for JavaScript; the
                // widget's selector takes `text/plain` exactly (in any case).
                let raw = self.attr("type").unwrap_or("").to_ascii_lowercase();
                let kind = raw.trim();
                if is_javascript(kind) {
                    let what = "runs at once, before any choice: give it type=\"text/plain\" (its own type, if any, goes in data-type)";
                    return fail(report, "ungated-script", what);
                }
                if let Some(delayer) = self.delayer() {
                    let what = format!(
                        "runs before any choice, once {} runs every script it holds: give it type=\"text/plain\" (its own type, if any, goes in data-type)",
                        delayer.name
                    );
                    return fail(report, "ungated-script", &what);
                }
                if raw != "text/plain" {
                    let what = "never runs: Crumb releases scripts of type \"text/plain\" only (the type to run as goes in data-type)";
                    return fail(report, "inert-type", what);
                }
                // The copy Crumb releases runs as the browser runs it, once:
                // a type only a library reads (Partytown's, a template's)
                // finds it gone or inert again.
                let data_type = self
                    .attr("data-type")
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if !is_javascript(&data_type) {
                    let what = format!(
                        "never runs: Crumb releases it as its data-type \"{data_type}\", which the browser does not run, and a library that would (Partytown) never sees it; leave data-type out, or give it \"module\""
                    );
                    return fail(report, "inert-data-type", &what);
                }
            }
            "iframe" | "img" => {
                if self.attr("src").is_some_and(loads_something) {
                    let what =
                        "loads at once, before any choice: give its address in data-src, not src";
                    return fail(report, "ungated-embed", what);
                }
                // Seen in Chromium, Firefox ESR and WebKitGTK: a srcdoc
                // (a "lighter" embed's thumbnail) shows, and runs, while
                // the gate holds the iframe, and still does once it is
                // allowed, as a srcdoc wins over a src.
                if self.name == "iframe" && self.attr("srcdoc").is_some() {
                    let what = "shows its srcdoc at once, before any choice (with what that loads), and never loads its data-src, even once allowed: a srcdoc wins over the src Crumb gives it; leave srcdoc out (Crumb's placeholder stands in until allowed)";
                    return fail(report, "srcdoc-embed", what);
                }
                // Seen in Chromium, Firefox ESR and WebKitGTK: an image with
                // a srcset loads from it while the page is parsed.
                if self.name == "img" && self.offers_addresses() {
                    let what = "loads from its srcset at once, before any choice: Crumb holds back data-src alone, so leave srcset out";
                    return fail(report, "ungated-embed", what);
                }
                if !self.has_waiting_address() {
                    let what = "never loads anything: give its address in data-src";
                    return fail(report, "no-address", what);
                }
            }
            "link" | "video" | "audio" | "source" | "embed" | "object" => {
                let what = "is not gated: Crumb holds back scripts, iframes and images only, so it loads at once; add it from a gated script instead (see the README's \"Embedding the widget\")";
                return fail(report, "not-gated", what);
            }
            _ => return,
        }
        if self.in_shadow_root {
            let what = format!(
                "never {}, whatever the choice: it is in a shadow root (<template shadowrootmode>), where Crumb does not look; put it in the page's own elements, in the component's slot",
                if self.name == "script" {
                    "runs"
                } else {
                    "loads"
                }
            );
            return fail(report, "shadow-root", &what);
        }
        report.gated += 1;
        self.check_names(site, category, report);
        self.check_not_necessary(category, report);
        self.check_lazy_loader(report);
    }

    /// A gated embed that a lazy-loading library also handles: such
    /// libraries load an element of their class from its `data-src` as it
    /// nears the viewport, which is before any choice (lazysizes even
    /// navigates an iframe without setting its `src`, so Crumb cannot undo
    /// it). Checked in Chromium with lazysizes 5.3 and vanilla-lazyload
    /// 19.1: both requested a gated iframe's address, and lazysizes a
    /// gated image's, with the banner up.
    fn check_lazy_loader(&self, report: &mut PageReport) {
        /// The class each library looks for by default, and the library.
        const LAZY_LOADERS: &[(&str, &str)] = &[
            ("lazyload", "lazysizes"),
            ("lazy", "vanilla-lazyload or yall.js"),
            ("lozad", "lozad.js"),
            ("b-lazy", "bLazy"),
        ];
        // The libraries load images and iframes; a script is Crumb's alone.
        if self.name == "script" {
            return;
        }
        let classes = self.attr("class").unwrap_or("");
        let Some((class, library)) = LAZY_LOADERS
            .iter()
            .find(|(class, _)| classes.split_ascii_whitespace().any(|c| c == *class))
        else {
            return;
        };
        self.problem(
            report,
            "lazy-loader",
            &format!(
                "loads before any choice: {library} loads elements of class \"{class}\" from their data-src as they near the screen; take the class off (the browser's own loading=\"lazy\" waits for Crumb)"
            ),
        );
    }

    /// Whether the element names Crumb's category or a service in
    /// `data-category` (pages use the attribute for their own ends too, a
    /// shop's product filters, say).
    fn names_crumbs_category(&self) -> bool {
        self.attr("data-category")
            .is_some_and(|c| Category::parse(c).is_some() || self.attr("data-service").is_some())
    }

    /// Whether an image or a `<picture>`'s `<source>` offers the browser
    /// addresses to load in `srcset`.
    fn offers_addresses(&self) -> bool {
        self.attr("srcset").is_some_and(|s| !s.trim().is_empty())
    }

    /// A gated image in a `<picture>` one of whose `<source>`s has a
    /// `srcset`: the browser picks the image's address among the sources
    /// and loads it while the page is parsed, whatever the image's own
    /// attributes say (seen in Chromium, Firefox ESR and WebKitGTK).
    fn check_picture_image(&self, report: &mut PageReport) {
        if self.names_crumbs_category() {
            self.problem(
                report,
                "ungated-embed",
                "loads at once, before any choice: it is in a <picture> whose <source> has a srcset, which the browser loads whatever the image says; gate a plain <img> with data-src, outside any <picture>",
            );
        }
    }

    /// Whether an embed's address waits in `data-src` for the gate to load
    /// it (the widget gives an empty one nothing to load).
    fn has_waiting_address(&self) -> bool {
        self.attr("data-src").is_some_and(|s| !s.trim().is_empty())
    }

    /// The element Vue hydrates a server-rendered page into: Nuxt's root
    /// (`id="__nuxt"`), or Vue 2's (`data-server-rendered="true"`).
    fn is_vue_root(&self) -> bool {
        self.attr("id") == Some("__nuxt") || self.attr("data-server-rendered") == Some("true")
    }

    /// A blocked embed that a framework hydrates: Crumb puts its
    /// placeholder just before it, which the framework takes for its own
    /// element (the README's page-change table, and the e2e tests of Vue
    /// 3.5, Angular 22 and Solid 1.9). Vue's recovery from the mismatch
    /// rebuilds what follows in the same parent, taking one gated script's
    /// element for another; Angular, which checks no tag names in a
    /// production build, and Solid, which finds a template's nodes by
    /// counting siblings, bind each later node of the component to the
    /// element before it.
    /// (Svelte 5 and React 19 render such a page afresh before anything is
    /// released, which does no harm; Preact 11 drops the placeholder and
    /// keeps the embed blocked, which costs only its button, and marks
    /// nothing this check could find.) In a Vue page, elements after the
    /// app's root are taken to be in it: Nuxt's body is its app.
    /// An iframe that is a Solid component of its own (its template's
    /// root, marked `data-hk` itself) does no harm: Solid finds a
    /// component between the markers its server wrote around it, not by
    /// counting siblings.
    fn check_hydrated_embed(&self, hydrator: Hydrator, report: &mut PageReport) {
        let marked = self.attr("data-category").is_some();
        let own_solid_component =
            matches!(hydrator, Hydrator::Solid) && self.attr("data-hk").is_some();
        if self.name == "iframe" && marked && self.has_waiting_address() && !own_solid_component {
            self.problem(report, "hydrated-embed", hydrator.harm());
        }
    }

    /// Crumb's own tag under the page's policy: crumb.js must load, the
    /// browser must compile its WebAssembly, and the widget must reach
    /// its API and assets, which are beside crumb.js (`v1/...`,
    /// `crumb/...`), and its stylesheet.
    fn check_widget_policy(&self, page: &PagePolicies, report: &mut PageReport) {
        let src = self.script_address();
        let base = &src[..src.rfind('/').map_or(0, |i| i + 1)];
        let tag = Script {
            address: Some(src),
            text: "",
            nonce: self.attr("nonce"),
            by_script: false,
        };
        let mut blocked = |what: &str, directive: &str, fix: &str| {
            let what = format!(
                "{what}: the page's Content-Security-Policy ({directive}) does not allow it; {fix}"
            );
            self.problem(report, "csp-widget", &what);
        };
        if let Some(d) = page.blocking(None, |p, origin| p.script(&tag, origin)) {
            let fix = format!(
                "add Crumb's origin to {d} (under 'strict-dynamic', the page's nonce to this tag)"
            );
            blocked(
                "never loads, so no banner shows and nothing gated runs",
                d,
                &fix,
            );
        }
        if let Some(d) = page.blocking(None, |p, _| p.wasm()) {
            let fix = format!("add 'wasm-unsafe-eval' to {d}");
            blocked(
                "never starts (the browser may not compile its WebAssembly), so no banner shows and nothing gated runs",
                d,
                &fix,
            );
        }
        // Its API, and its WebAssembly among its assets.
        let connect = |address: String| {
            page.blocking(None, |p, origin| p.fetch(Fetch::Connect, &address, origin))
        };
        if let Some(d) = connect(format!("{base}v1/sites/"))
            .or_else(|| connect(format!("{base}crumb/crumb.wasm")))
        {
            let fix = format!("add Crumb's origin to {d}");
            blocked(
                "cannot fetch its WebAssembly, its config or the visitor's consent, nor record a choice",
                d,
                &fix,
            );
        }
        let stylesheet = format!("{base}crumb/crumb.css");
        if let Some(d) = page.blocking(None, |p, origin| p.fetch(Fetch::Style, &stylesheet, origin))
        {
            let fix = format!("add Crumb's origin to {d}");
            blocked(
                "shows its banner unstyled (its stylesheets are files beside crumb.js)",
                d,
                &fix,
            );
        }
    }

    /// An element the gate holds, once allowed: a script's released copy
    /// runs as the browser runs a script a page's script adds (keeping the
    /// nonce), and an embed loads its `data-src`, both under the page's
    /// policy.
    fn check_release_policy(&self, page: &PagePolicies, report: &mut PageReport) {
        let address = self
            .attr("data-src")
            .or_else(|| self.attr("src"))
            .filter(|a| !a.trim().is_empty());
        let (rule, verb, directive, fix) = match (self.name.as_str(), address) {
            ("script", _) => {
                let copy = Script {
                    address,
                    text: self.text,
                    nonce: self.attr("nonce"),
                    by_script: true,
                };
                let Some(d) = page.blocking(address, |p, origin| p.script(&copy, origin)) else {
                    return;
                };
                let fix = match address {
                    Some(address) => format!(
                        "does not allow {address}; add its origin to {d}, or give the script the page's nonce"
                    ),
                    None => "runs no inline script without the page's nonce or the script's hash; give it the page's nonce (its released copy keeps it)".to_owned(),
                };
                ("csp-script", "runs", d, fix)
            }
            ("iframe" | "img", Some(address)) => {
                let kind = if self.name == "iframe" {
                    Fetch::Frame
                } else {
                    Fetch::Image
                };
                let Some(d) =
                    page.blocking(Some(address), |p, origin| p.fetch(kind, address, origin))
                else {
                    return;
                };
                let fix = format!("does not allow {address}; add its origin to {d}");
                ("csp-embed", "loads", d, fix)
            }
            _ => return,
        };
        let what = format!(
            "never {verb}, even once allowed: the page's Content-Security-Policy ({directive}) {fix}"
        );
        self.problem(report, rule, &what);
    }

    /// A vendor's tracking tag marked strictly necessary runs before any
    /// choice and cannot be refused. (Matomo and Piwik PRO may be set up
    /// for audience measurement that some regulators exempt, CNIL's for
    /// one, so they are left to the site.)
    fn check_not_necessary(&self, category: &str, report: &mut PageReport) {
        if Category::parse(category) != Some(Category::Necessary) {
            return;
        }
        let address = self.attr("data-src").or(self.attr("src")).unwrap_or("");
        let vendor = self.vendor(address);
        if let Some(v) = vendor.filter(|v| !v.may_be_exempt) {
            self.problem(
                report,
                "tracker-necessary",
                &format!(
                    "marks {} strictly necessary, so it runs before any choice and no visitor can refuse it: give it the category it tracks for (analytics, marketing)",
                    v.name
                ),
            );
        }
    }

    /// The category and service named are the site's, and agree.
    fn check_names(&self, site: &SiteConfig, category: &str, report: &mut PageReport) {
        let has = |c: Category| site.categories.iter().any(|k| k.id == c);
        let Some(category) = Category::parse(category).filter(|c| has(*c)) else {
            let names: Vec<&str> = site.categories.iter().map(|c| c.id.as_str()).collect();
            self.problem(
                report,
                "unknown-category",
                &format!(
                    "is never allowed: site {} has no category \"{category}\" (it has {})",
                    site.id,
                    names.join(", ")
                ),
            );
            return;
        };
        let Some(service) = self.attr("data-service") else {
            return;
        };
        match site.services.iter().find(|s| s.id.as_str() == service) {
            None => self.problem(
                report,
                "unknown-service",
                &format!(
                    "is never allowed: site {} has no service \"{service}\"",
                    site.id
                ),
            ),
            Some(s) if s.category != category => self.problem(
                report,
                "service-category",
                &format!(
                    "service \"{service}\" is in category {}, not {category}: it is allowed only when both are",
                    s.category
                ),
            ),
            Some(_) => {}
        }
    }

    /// The vendor whose tag this loads: from `address`, else from the
    /// snippet in its text.
    fn vendor(&self, address: &str) -> Option<&'static Vendor> {
        vendor_in(address).or_else(|| vendor_in(self.text))
    }

    /// The vendor whose tag this script is, when it runs as it stands
    /// (JavaScript, or held back by a page-speed tool that runs it later):
    /// from its address or its inline snippet.
    fn running_vendor_script(&self) -> Option<&'static Vendor> {
        let runs = is_javascript(&self.script_type()) || self.delayer().is_some();
        if self.name != "script" || !runs {
            return None;
        }
        self.vendor(self.script_address()).filter(|v| !v.embed_only)
    }

    /// An unmarked vendor's script that loads at once because the site's
    /// config turns on its consent signal needs Crumb's signals script to
    /// have run first: without it the vendor hears of no consent at all
    /// and tracks (UET and the Google tag assume consent granted when no
    /// default is set). `signals` is the line of the page's signals script
    /// when it comes later; `None` when the page has none.
    fn check_signals_ahead(
        &self,
        site: &SiteConfig,
        signals: Option<usize>,
        report: &mut PageReport,
    ) {
        if self.attr("data-category").is_some() {
            return;
        }
        let Some(vendor) = self
            .running_vendor_script()
            .filter(|v| v.waits_under_signal(site))
        else {
            return;
        };
        let name = vendor.name;
        let what = match signals {
            Some(line) => format!(
                "loads {name} at once, as its consent signal lets it, but Crumb's signals script comes only on line {line}, after it: put that first in <head>, before any vendor's tag"
            ),
            None => format!(
                "loads {name} at once, as its consent signal lets it, but the page has no Crumb signals script to send that signal: put <script src=\"https://CRUMB/v1/sites/{}/signals.js\"></script> first in <head>, before any vendor's tag",
                site.id
            ),
        };
        self.problem(report, "signals-order", &what);
    }

    /// The WP Consent API's own script, as WordPress prints it (from the
    /// plugin's folder, `wp-consent-api.min.js`).
    fn is_wp_consent_api(&self) -> bool {
        self.name == "script"
            && self
                .script_path()
                .rsplit('/')
                .next()
                .is_some_and(|file| file.starts_with("wp-consent-api"))
    }

    /// The WP Consent API tells WordPress plugins what the visitor allows,
    /// and without a consent type (which a consent management platform
    /// sets) it tells them that everything is: Crumb's signals script
    /// must set it, and the categories, for that page's plugins
    /// (`integrations.wordpress`).
    fn check_wp_consent_api(&self, site: &SiteConfig, signals: bool, report: &mut PageReport) {
        let what = if site.integrations.wordpress.is_none() {
            "loads the WP Consent API, which tells the site's plugins that every category is allowed until a consent tool sets its consent type, whatever the visitor chose: turn on integrations.wordpress, and put Crumb's signals script first in <head>".to_owned()
        } else if !signals {
            format!(
                "loads the WP Consent API, but the page has no Crumb signals script to set its consent type and categories: put <script src=\"https://CRUMB/v1/sites/{}/signals.js\"></script> first in <head>",
                site.id
            )
        } else if let Some(delayer) = self.delayer() {
            // Crumb's signals script sets the categories once the page is
            // parsed, through the API's functions; a delayed API has none
            // by then, and its plugins hear of no choice.
            format!(
                "is held back by {}, so the WP Consent API is not there when Crumb's signals script sets the visitor's choice, and the site's plugins never hear of it: {}",
                delayer.name,
                delayer.exemption("wp-consent-api.min.js", "the API's tag")
            )
        } else {
            return;
        };
        self.problem(report, "wp-consent-api", &what);
    }

    /// Crumb's signals script (`.../v1/sites/SITE/signals.js`): the site it
    /// names.
    fn signals_site(&self) -> Option<&str> {
        if self.name != "script" {
            return None;
        }
        let (sites, id) = self
            .script_path()
            .strip_suffix("/signals.js")?
            .rsplit_once('/')?;
        (sites == "v1/sites" || sites.ends_with("/v1/sites")).then_some(id)
    }

    /// Crumb's signals script names this site, whose config turns a signal
    /// on, and runs where the parser reads it, before the vendors' tags
    /// after it (README, "Vendor consent signals").
    fn check_signals_tag(&self, site: &SiteConfig, named: &str, report: &mut PageReport) {
        if named != site.id.as_str() {
            let what = format!(
                "sends site {named}'s consent signals, not this config's site {}",
                site.id
            );
            self.problem(report, "signals-tag", &what);
        }
        if site.integrations.is_empty() {
            let what =
                "is answered 404 not_enabled: this config turns on no vendor signal (integrations)";
            self.problem(report, "signals-tag", what);
        }
        let kind = self.script_type();
        let what = if let Some(delayer) = self.delayer() {
            format!(
                "is held back by {}, which rewrote the tag and runs it only later, after the vendors' tags it must come before: {}",
                delayer.name,
                delayer.exemption("signals.js", "Crumb's signals script")
            )
        } else if kind == "module" || self.attr("async").is_some() || self.attr("defer").is_some() {
            "runs only after the page has been read (async, defer or a module), after the vendors' tags it must come before: take those off".to_owned()
        } else if !is_javascript(&kind) {
            "never runs as the page is read (gated, it would run only after a choice, too late to tell the vendors to wait): leave its type out".to_owned()
        } else {
            return;
        };
        self.problem(report, "signals-tag", &what);
    }

    /// An element not marked for Crumb that loads a tracking vendor's tag
    /// at once: a script (from its `src` or its inline snippet), an
    /// iframe or an image.
    fn check_unmarked(&self, site: &SiteConfig, report: &mut PageReport) {
        self.check_font_service(report);
        let src = self.attr("src").unwrap_or("");
        let delayer = self.delayer();
        let vendor = match self.name.as_str() {
            // A vendor that holds itself back under the site's signal may
            // load at once (its script; its pixel image may not), after
            // Crumb's signals script (`check_signals_ahead`).
            "script" => self
                .running_vendor_script()
                .filter(|v| !v.waits_under_signal(site)),
            "iframe" | "img" => vendor_in(src),
            "link" => return self.check_vendor_hint(site, report),
            _ => None,
        };
        let Some(vendor) = vendor else {
            return;
        };
        let mut what = format!("loads {} before any choice", vendor.name);
        if let Some(delayer) = delayer {
            what.push_str(&format!(
                " (held back by {} only until it runs every script it holds)",
                delayer.name
            ));
        }
        what.push_str(": ");
        if self.name == "script" {
            what.push_str("give it type=\"text/plain\" and its data-category");
            if let Some(signal) = vendor.signal {
                what.push_str(", or ");
                what.push_str(signal.advice());
            }
        } else {
            what.push_str("give its address in data-src, not src, and give it its data-category");
        }
        self.problem(report, "unmarked-tracker", &what);
    }

    /// A `<link>` hint that contacts a vendor before any choice: a
    /// `preload`, `modulepreload` or `prefetch` of its tag fetches it
    /// (with the visitor's cookies for its site), whatever the gate holds
    /// back, and a `preconnect` opens a connection to its servers, which
    /// gives them the visitor's IP address. (Seen with Crumb's banner up:
    /// Chromium and Firefox ESR fetched all three kinds, WebKitGTK the
    /// first two, and WebKitGTK connected for the preconnect. A
    /// `dns-prefetch` asks only the visitor's resolver.) A vendor that
    /// holds itself back under the site's signal may be hinted at, as its
    /// tag may load at once.
    fn check_vendor_hint(&self, site: &SiteConfig, report: &mut PageReport) {
        let rel = self.attr("rel").unwrap_or("").to_ascii_lowercase();
        let href = self.attr("href").unwrap_or("");
        let has = |kinds: &[&str]| rel.split_ascii_whitespace().any(|r| kinds.contains(&r));
        // The vendors the hint contacts: the one whose tag it fetches, or
        // every one whose tags load from the host it connects to (Google
        // Tag Manager's container and the Google tag share theirs).
        let fetches = has(&["preload", "modulepreload", "prefetch"]);
        let vendors: Vec<&Vendor> = if fetches {
            vendor_in(href).into_iter().collect()
        } else if has(&["preconnect"]) {
            vendors_at_host(href)
        } else {
            return;
        };
        if vendors.iter().any(|v| v.waits_under_signal(site)) {
            return;
        }
        let Some(vendor) = vendors.first() else {
            return;
        };
        let name = vendor.name;
        let what = if fetches {
            format!(
                "fetches the script of {name} before any choice, with the visitor's cookies for its site, whatever Crumb holds back"
            )
        } else {
            format!(
                "opens a connection to the servers of {name} before any choice, which gives them every visitor's IP address"
            )
        };
        self.problem(
            report,
            "unmarked-tracker",
            &format!("{what}: take the hint out (the gated tag loads it once allowed)"),
        );
    }

    /// An element held back the way another consent tool marks it (a
    /// `text/plain` script, or an iframe or image whose address waits in a
    /// data attribute) but not marked for Crumb: it never runs or loads.
    /// Whether it was named.
    fn check_other_marking(&self, report: &mut PageReport) -> bool {
        let waiting = match self.name.as_str() {
            "script" => self
                .attr("type")
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/plain")),
            "iframe" | "img" => self.attrs.keys().any(|k| k.ends_with("-src")),
            _ => false,
        };
        if !waiting {
            return false;
        }
        let Some((other, value)) = OTHER_MARKINGS.iter().find_map(|m| {
            let value = self.attr(m.attr)?;
            let told = (m.marks)(value)
                && (m.beside.is_empty() || m.beside.iter().any(|a| self.attr(a).is_some()));
            told.then_some((m, value))
        }) else {
            return false;
        };
        // Marked for several of the tool's purposes: Crumb's element has
        // one category, the one that asks most of the visitor.
        let category = value
            .split(',')
            .filter_map(|v| (other.category)(v.trim()))
            .max();
        let mut what = format!(
            "is marked for {} ({}=\"{value}\"), which Crumb does not read, so it never {}: give it ",
            other.tool,
            other.attr,
            if self.name == "script" {
                "runs"
            } else {
                "loads"
            },
        );
        match category {
            Some(c) => what.push_str(&format!("data-category=\"{}\"", c.as_str())),
            None => what.push_str("the data-category of what it does"),
        }
        if self.name != "script" && self.attr("data-src").is_none() {
            what.push_str(", and its address in data-src");
        }
        self.problem(report, "other-tool-marking", &what);
        true
    }

    /// Site code that waits for another consent tool's events or asks its
    /// API: once Crumb asks instead, the answer never comes.
    fn check_other_api(&self, report: &mut PageReport) {
        let Some((api, tool)) = OTHER_APIS.iter().find(|(api, _)| self.text.contains(api)) else {
            return;
        };
        self.problem(
            report,
            "other-tool-api",
            &format!(
                "waits for or asks {tool} ({api}), which no longer answers once Crumb asks instead: listen for crumb:change on document, or read crumb.consent() (see the README's \"Embedding the widget\")"
            ),
        );
    }

    /// A style sheet from a font service (Google Fonts, Adobe Fonts),
    /// linked or imported, its script, a font file from there, or a
    /// `preconnect` hint to its servers: the browser contacts the service
    /// before any choice, which gives it every visitor's IP address. (A
    /// `dns-prefetch` hint asks only the visitor's resolver.)
    fn check_font_service(&self, report: &mut PageReport) {
        enum Contact {
            Connects,
            Loads,
        }
        let (service, contact) = match self.name.as_str() {
            "link" => {
                let Some(service) = font_service_in(self.attr("href").unwrap_or("")) else {
                    return;
                };
                let rel = self.attr("rel").unwrap_or("").to_ascii_lowercase();
                let hints =
                    |allowed: &[&str]| rel.split_ascii_whitespace().all(|r| allowed.contains(&r));
                if hints(&["dns-prefetch"]) {
                    return;
                }
                if hints(&["preconnect", "dns-prefetch"]) {
                    (service, Contact::Connects)
                } else {
                    (service, Contact::Loads)
                }
            }
            "style" => match font_service_in(self.text) {
                Some(service) => (service, Contact::Loads),
                None => return,
            },
            // Adobe Fonts' JavaScript embed code.
            "script" => match font_service_in(self.attr("src").unwrap_or("")) {
                Some(service) => (service, Contact::Loads),
                None => return,
            },
            _ => return,
        };
        let FontService {
            rule,
            name,
            owner,
            note,
            fix,
            ..
        } = service;
        let (what, fix) = match contact {
            Contact::Connects => (
                format!("opens a connection to {name}' servers"),
                "take the hint out along with the fonts' style sheet",
            ),
            Contact::Loads => (format!("loads {name} from {owner}'s servers"), *fix),
        };
        self.problem(
            report,
            rule,
            &format!(
                "{what} before any choice, which gives {owner} every visitor's IP address ({note}): {fix}"
            ),
        );
    }

    /// An element inside a `<noscript>` block: it loads only where scripts
    /// do not run, Crumb included, so nothing can hold it back. A vendor's
    /// iframe or image, any iframe that loads something, or a hidden or
    /// one-pixel image (whose only use is its request) is tracking no
    /// choice came before.
    fn check_noscript(&self, report: &mut PageReport) {
        let src = self.attr("src").unwrap_or("");
        if !matches!(self.name.as_str(), "img" | "iframe") || !loads_something(src) {
            return;
        }
        let tiny = |name| {
            self.attr(name)
                .is_some_and(|v| v.trim().parse::<f64>().is_ok_and(|n| n <= 1.0))
        };
        let style = self
            .attr("style")
            .unwrap_or("")
            .to_ascii_lowercase()
            .replace(' ', "");
        let hidden = (tiny("width") && tiny("height"))
            || style.contains("display:none")
            || style.contains("visibility:hidden");
        let what = match vendor_in(src) {
            Some(v) => format!("loads {}", v.name),
            None if self.name == "iframe" => "loads another page".to_owned(),
            None if hidden => "sends a hidden image's request".to_owned(),
            None => return,
        };
        self.problem(
            report,
            "noscript-tracker",
            &format!(
                "{what} for visitors without JavaScript, where Crumb cannot ask first: take its <noscript> block out (vendors' snippets come with one)"
            ),
        );
    }

    /// A page element with a class that Crumb's stylesheets style (a
    /// breadcrumb's `crumb-title` or `crumb-text`, say): Crumb's rules
    /// reach it, and the site's rules for the class reach Crumb's banner.
    fn check_crumb_class(&self, report: &mut PageReport) {
        let classes = self.attr("class").unwrap_or("");
        if let Some(class) = classes
            .split_ascii_whitespace()
            .find(|c| CRUMB_CLASSES.contains(c))
        {
            let what = format!(
                "has class {class}, a name Crumb's stylesheets give their own elements: Crumb's rules for it and the site's can reach each other's elements; give this one another class"
            );
            self.problem(report, "crumb-class", &what);
        }
    }

    /// Crumb's own tag: a script whose address ends in `crumb.js`.
    fn is_crumbs_tag(&self) -> bool {
        let path = self.script_path();
        path == "crumb.js" || path.ends_with("/crumb.js")
    }

    fn check_widget_tag(&self, site: &SiteConfig, report: &mut PageReport) {
        match self.attr("data-site") {
            Some(id) if id == site.id.as_str() => {}
            Some(id) => self.problem(
                report,
                "widget-site",
                &format!(
                    "shows site {id}'s banner and records its choices, not this config's site {}",
                    site.id
                ),
            ),
            None => self.problem(
                report,
                "widget-site",
                &format!("names no site: give it data-site=\"{}\"", site.id),
            ),
        }
        // crumb.js finds its own tag (its address and `data-site`) as
        // `document.currentScript`, which a module does not have, and a
        // type that is not JavaScript does not run.
        let kind = self.script_type();
        if let Some(delayer) = self.delayer() {
            // The banner comes late (with nothing gated running before it),
            // and the tag crumb.js reads its address and site from is the
            // tool's business.
            self.problem(
                report,
                "widget-type",
                &format!(
                    "is held back by {}, which rewrote the tag and runs it only later: {}",
                    delayer.name,
                    delayer.exemption("crumb.js", "Crumb's tag")
                ),
            );
        } else if !kind.is_empty() && kind != "text/javascript" {
            self.problem(
                report,
                "widget-type",
                "never starts: crumb.js runs as a classic script only; leave its type out",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo site: categories necessary, functional, analytics,
    /// marketing; services google-analytics, hotjar (analytics), youtube
    /// (marketing), ...
    fn demo() -> SiteConfig {
        crate::lint::lint_json(include_str!("../../examples/demo-site.json")).unwrap()
    }

    /// Each problem's rule and line.
    fn located(report: &PageReport) -> Vec<(&'static str, &str)> {
        report
            .problems
            .iter()
            .map(|p| (p.rule, p.path.as_str()))
            .collect()
    }

    /// Asserts that the report's `i`th problem says `what`.
    fn says(report: &PageReport, i: usize, what: &str) {
        let message = &report.problems[i].message;
        assert!(message.contains(what), "{message}");
    }

    fn rules(html: &str) -> Vec<(&'static str, String)> {
        lint_page(&demo(), html)
            .problems
            .into_iter()
            .map(|p| (p.rule, p.path))
            .collect()
    }

    #[test]
    fn a_page_marked_as_the_readme_says_has_no_problem() {
        let html = r#"<!DOCTYPE html><html><head>
<script src="https://consent.example.com/crumb.js" data-site="demo" async></script>
<script type="text/plain" data-category="analytics" data-service="hotjar">/* snippet */</script>
<script type="TEXT/PLAIN" data-category="analytics" data-service="google-analytics" async
        data-src="https://www.googletagmanager.com/gtag/js?id=G-XXXX"></script>
</head><body>
<iframe data-src="https://www.youtube.com/embed/ID" data-category="marketing" data-service="youtube"></iframe>
<img data-src="https://px.example/1.gif" data-category="marketing" alt="">
<script>document.write('<iframe data-category="nope" src="x">')</script>
<div data-category="shoes"><img src="/shoes.jpg" data-category="shoes"></div>
<iframe src="about:blank" data-src="https://www.youtube.com/embed/ID2" data-category="marketing"></iframe>
<!-- <script data-category="analytics" src="commented-out.js"></script> -->
</body></html>"#;

        let report = lint_page(&demo(), html);

        assert_eq!(report.problems, vec![]);
        assert_eq!(report.gated, 5);
    }

    #[test]
    fn a_gated_embed_a_lazy_loading_library_also_handles_is_named() {
        let html = r#"<iframe class="video lazyload" data-src="https://www.youtube.com/embed/A" data-category="marketing" data-service="youtube"></iframe>
<img class="lazy" data-src="https://px.example/1.gif" data-category="marketing" alt="">
<iframe loading="lazy" class="lazyloaded" data-src="https://www.youtube.com/embed/B" data-category="marketing" data-service="youtube"></iframe>
<img class="lazyload" data-src="/shoe.jpg" alt="">
<script type="text/plain" class="lazy" data-category="analytics"></script>"#;

        let report = lint_page(&demo(), html);

        // Not the browser's own lazy loading, nor a class that merely
        // contains the library's, nor an image the site does not gate, nor
        // a script.
        assert_eq!(
            located(&report),
            vec![("lazy-loader", "line 1"), ("lazy-loader", "line 2")]
        );
        says(&report, 0, "lazysizes loads elements of class \"lazyload\"");
        says(&report, 1, "vanilla-lazyload or yall.js");
    }

    #[test]
    fn a_blocked_embed_that_vue_hydrates_is_named() {
        let embed = r#"<iframe data-src="https://www.youtube.com/embed/ID" data-category="marketing" data-service="youtube"></iframe>"#;
        let page = |root: &str| {
            format!(
                "<!DOCTYPE html><html><body>\n{embed}\n<div {root}><main>\n{embed}\n\
                 <img data-src=\"https://px.example/1.gif\" data-category=\"marketing\" alt=\"\">\n\
                 <iframe src=\"/map.html\"></iframe></main></div></body></html>"
            )
        };

        // Nuxt's root and Vue 2's: the embed after it, not the one before.
        assert_eq!(
            rules(&page("id=\"__nuxt\"")),
            vec![("hydrated-embed", "line 4".into())]
        );
        let report = lint_page(&demo(), &page("id=\"app\" data-server-rendered=\"true\""));
        assert_eq!(located(&report), vec![("hydrated-embed", "line 4")]);
        says(&report, 0, "render the embed on the client only");
        // A page no framework hydrates.
        assert_eq!(rules(&page("id=\"app\"")), vec![]);
    }

    #[test]
    fn a_blocked_embed_that_angular_hydrates_is_named_unless_its_component_skips_hydration() {
        // As Angular's server renderer writes a page: the components it
        // hydrates carry `ngh`; one whose host opts out, `ngskiphydration`.
        let embed = r#"<iframe data-src="https://www.youtube.com/embed/ID" data-category="marketing" data-service="youtube"></iframe>"#;
        let html = format!(
            "<!DOCTYPE html><html><body><!--nghm-->\n\
             <app-root ng-version=\"22.2.6\" ngh=\"1\"><main><p>Shop<br><img src=\"/logo.png\" alt=\"\">\n\
             <app-video ngh=\"0\"><p>Our video</p>\n{embed}<p>caption</p></app-video>\n\
             <app-map ngskiphydration=\"\"><div>\n{embed}</div><app-pin ngh=\"0\">\n{embed}</app-pin></app-map>\n\
             <app-clip ngh=\"0\">\n{embed}</app-clip></main></app-root>\n\
             {embed}\n<script id=\"ng-state\" type=\"application/json\">{{}}</script></body></html>"
        );

        // Assert: the embeds in hydrated components, not the ones inside
        // the component that skips hydration, nor the page's own after
        // the app (an unclosed `<p>` and void elements close nothing).
        let report = lint_page(&demo(), &html);
        assert_eq!(
            located(&report),
            vec![("hydrated-embed", "line 4"), ("hydrated-embed", "line 9")]
        );
        says(&report, 0, "mark the component's host ngSkipHydration");
        // A page rendered by Angular's server without hydration.
        assert_eq!(rules(&html.replace(" ngh=", " data-x=")), vec![]);
    }

    #[test]
    fn a_blocked_embed_in_a_template_solid_hydrates_is_named() {
        // As Solid's server renderer writes a page: each component's
        // template root carries its hydration key (`data-hk`).
        let embed = r#"<iframe data-src="https://www.youtube.com/embed/ID" data-category="marketing" data-service="youtube"></iframe>"#;
        let html = format!(
            "<!DOCTYPE html><html><body>\n{embed}\n<div id=\"app\"><main data-hk=\"0\">\
             <button>count <!--$-->0<!--/--></button><!--$--><section data-hk=\"10\"><p>Our video</p>\n\
             {embed}<p id=\"caption\">first video</p></section><!--/--><!--$-->\n\
             {}<!--/--></main></div>\n\
             {embed}\n</body></html>",
            embed.replace("<iframe ", "<iframe data-hk=\"20\" ")
        );

        // Assert: the embed in the component's template, not the one that
        // is a component of its own, nor the page's own before and after
        // the app.
        let report = lint_page(&demo(), &html);
        assert_eq!(located(&report), vec![("hydrated-embed", "line 4")]);
        says(
            &report,
            0,
            "Solid, hydrating this server-rendered component",
        );
        says(&report, 0, "<Show when={mounted()}>");
        // A page Solid rendered without hydration keys.
        assert_eq!(rules(&html.replace(" data-hk=", " data-x=")), vec![]);
    }

    #[test]
    fn an_element_crumb_would_gate_in_a_declarative_shadow_root_is_named() {
        let embed = r#"<iframe data-src="https://www.youtube.com/embed/ID" data-category="marketing" data-service="youtube"></iframe>"#;
        let html = format!(
            "<!DOCTYPE html><html><body>\n\
             <my-video><template shadowrootmode=\"open\"><p>Our video</p><slot></slot>\n{embed}\n\
             <script type=\"text/plain\" data-category=\"analytics\">track()</script></template>\n{embed}</my-video>\n\
             <template id=\"later\">\n{embed}</template></body></html>"
        );

        // Assert: the two in the shadow root; not the one slotted in from
        // the page, nor the one in a plain template (the gate sees it once
        // a script puts it in the page).
        let report = lint_page(&demo(), &html);
        assert_eq!(
            located(&report),
            vec![("shadow-root", "line 3"), ("shadow-root", "line 4")]
        );
        says(&report, 0, "never loads, whatever the choice");
        says(&report, 1, "never runs");
        assert_eq!(report.gated, 2);
    }

    #[test]
    fn a_content_security_policy_that_keeps_crumb_or_a_release_out_is_named() {
        // A policy of hosts in a `<meta>` tag, on a page that names its
        // origin: no 'wasm-unsafe-eval', no style source for Crumb, no
        // inline scripts, frames only from the page's own origin.
        let html = "<!DOCTYPE html><html><head>\n\
            <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; script-src 'self' https://consent.example.com https://www.googletagmanager.com; connect-src 'self' https://consent.example.com; img-src 'self'\">\n\
            <link rel=\"canonical\" href=\"https://shop.example/products\">\n\
            <script src=\"https://consent.example.com/crumb.js\" data-site=\"demo\" async></script>\n\
            <script type=\"text/plain\" data-category=\"analytics\" data-service=\"google-analytics\" data-src=\"https://www.googletagmanager.com/gtag/js?id=G-1\"></script>\n\
            <script type=\"text/plain\" data-category=\"analytics\">track()</script>\n\
            <script type=\"text/plain\" data-category=\"analytics\" data-src=\"https://shop.example/js/stats.js\"></script>\n\
            <iframe data-src=\"https://www.youtube.com/embed/ID\" data-category=\"marketing\" data-service=\"youtube\"></iframe>\n\
            <img data-src=\"/px.gif\" data-category=\"marketing\" alt=\"\">\n\
            </head></html>";
        let report = lint_page(&demo(), html);
        assert_eq!(
            located(&report),
            vec![
                ("csp-widget", "line 4"),
                ("csp-widget", "line 4"),
                ("csp-script", "line 6"),
                ("csp-embed", "line 8"),
            ]
        );
        says(&report, 0, "add 'wasm-unsafe-eval' to script-src");
        says(&report, 1, "shows its banner unstyled");
        says(&report, 1, "(default-src)");
        says(&report, 2, "give it the page's nonce");
        says(
            &report,
            3,
            "does not allow https://www.youtube.com/embed/ID",
        );

        // Without the page's origin, what only 'self' could allow is not
        // named (the page could be on Crumb's origin, or the site's own
        // stats script on the page's): only what no origin helps, and a
        // vendor's address, which is never the page's.
        let report = lint_page(&demo(), &html.replace("rel=\"canonical\"", "rel=\"icon\""));
        assert_eq!(
            located(&report),
            vec![
                ("csp-widget", "line 4"),
                ("csp-script", "line 6"),
                ("csp-embed", "line 8")
            ]
        );
        let report = lint_page(
            &demo(),
            &html.replace(
                "https://shop.example/js/stats.js",
                "https://stats.example/s.js",
            ),
        );
        assert_eq!(located(&report)[3], ("csp-script", "line 7"));

        // The README's policy lets all of it in.
        let fine = html.replace(
            "default-src 'self'; script-src 'self' https://consent.example.com https://www.googletagmanager.com; connect-src 'self' https://consent.example.com; img-src 'self'",
            "script-src 'self' https://consent.example.com https://www.googletagmanager.com 'wasm-unsafe-eval' 'unsafe-inline'; style-src 'self' https://consent.example.com; connect-src 'self' https://consent.example.com",
        );
        assert_eq!(rules(&fine), vec![]);
    }

    #[test]
    fn the_policy_of_a_response_head_before_the_page_counts() {
        // As `curl -siL` prints a redirect and a page under a nonce-based
        // policy: Crumb's tag needs the nonce; what it releases does not.
        let page = "HTTP/1.1 301 Moved Permanently\r\nLocation: /\r\n\r\n\
            HTTP/2 200\r\ncontent-type: text/html\r\n\
            Content-Security-Policy: script-src 'nonce-r4nd0m' 'strict-dynamic' 'wasm-unsafe-eval'; object-src 'none'\r\n\r\n\
            <!DOCTYPE html><html><head>\n\
            <script src=\"https://consent.example.com/crumb.js\" data-site=\"demo\" async></script>\n\
            <script type=\"text/plain\" data-category=\"analytics\">track()</script>\n\
            </head></html>";
        let report = lint_page(&demo(), page);
        assert_eq!(located(&report), vec![("csp-widget", "line 9")]);
        says(&report, 0, "never loads");
        says(&report, 0, "the page's nonce to this tag");
        assert_eq!(report.gated, 1);
        assert_eq!(
            rules(&page.replace("<script src", "<script nonce=\"r4nd0m\" src")),
            vec![]
        );
    }

    #[test]
    fn a_gated_iframe_with_a_srcdoc_is_named() {
        let html = "<iframe data-src=\"https://www.youtube.com/embed/ID\" srcdoc=\"<img src=https://i.ytimg.com/vi/ID/hqdefault.jpg>\" data-category=\"marketing\" data-service=\"youtube\"></iframe>\n\
                    <iframe srcdoc=\"<p>Our own note</p>\"></iframe>";
        let report = lint_page(&demo(), html);
        assert_eq!(located(&report), vec![("srcdoc-embed", "line 1")]);
        says(&report, 0, "leave srcdoc out");
    }

    #[test]
    fn open_elements_stay_few_however_the_markup_is_left_open() {
        // Unclosed paragraphs and list items end at their next sibling;
        // nesting is followed to HTML's depth and no deeper; the marks
        // hold until their elements close.
        let mut open = OpenElements::default();
        let attrs = |pairs: &[&str]| {
            pairs
                .iter()
                .map(|k| (k.to_string(), String::new()))
                .collect()
        };
        open.open("app-root", &attrs(&["ngh"]));
        for _ in 0..1000 {
            open.end_siblings_of("li");
            open.open("li", &attrs(&[]));
        }
        assert_eq!(
            (open.stack.len(), open.here().hydrated_by_angular()),
            (2, true)
        );
        for _ in 0..1000 {
            open.open("div", &attrs(&[]));
        }
        assert_eq!(open.stack.len(), OpenElements::MAX_DEPTH);
        open.close(b"app-root");
        assert_eq!(
            (open.stack.len(), open.here().hydrated_by_angular()),
            (0, false)
        );
    }

    #[test]
    fn elements_that_would_track_before_a_choice_are_named_with_their_line() {
        let html = "<script data-category=\"analytics\" src=\"https://a.example/a.js\"></script>\n\
            <script type=\"module\" data-category=\"analytics\">import 'x'</script>\n\
            <script type=\"text/javascript\" data-category=\"analytics\"></script>\n\
            <iframe src=\"https://www.youtube.com/embed/ID\" data-category=\"marketing\"></iframe>\n\
            <link rel=\"stylesheet\" href=\"https://fonts.example/css\" data-category=\"functional\">\n";

        assert_eq!(
            rules(html),
            vec![
                ("ungated-script", "line 1".into()),
                ("ungated-script", "line 2".into()),
                ("ungated-script", "line 3".into()),
                ("ungated-embed", "line 4".into()),
                ("not-gated", "line 5".into()),
            ]
        );
    }

    #[test]
    fn a_gated_image_the_browser_loads_from_a_srcset_is_named() {
        // Each of Chromium, Firefox ESR and WebKitGTK requested the first
        // image's srcset and the picture's source with the banner up.
        let html = r#"<img data-src="https://px.example/1.gif" srcset="https://px.example/2.gif 2x" data-category="marketing" alt="">
<picture><source srcset="https://maps.example/m.webp" type="image/webp">
<img data-src="https://maps.example/m.png" data-category="functional" alt=""></picture>
<picture><source srcset="/shop.webp"><img src="/shop.jpg" alt=""></picture>
<video><source src="/clip.mp4"></video>
<img data-src="https://px.example/3.gif" srcset="" data-category="marketing" alt="">
<picture><img data-src="https://px.example/4.gif" data-category="marketing" alt=""></picture>"#;

        let report = lint_page(&demo(), html);

        // Not the site's own picture, an empty srcset, nor a picture with
        // no source.
        assert_eq!(
            located(&report),
            vec![("ungated-embed", "line 1"), ("ungated-embed", "line 3")]
        );
        says(&report, 0, "loads from its srcset at once");
        says(&report, 1, "in a <picture> whose <source> has a srcset");
    }

    #[test]
    fn elements_that_would_never_run_are_named() {
        let html = "<script type=\"text/plain\" data-category=\"statistics\"></script>\n\
            <script type=\"text/plain\" data-category=\"marketing\" data-service=\"vimeo\"></script>\n\
            <iframe data-src=\"https://www.youtube.com/embed/ID\" data-category=\"analytics\" data-service=\"youtube\"></iframe>\n\
            <script type=\" text/plain \" data-category=\"analytics\"></script>\n\
            <iframe data-category=\"marketing\"></iframe>\n\
            <script type=\"text/x-template\" data-category=\"analytics\"></script>\n\
            <script type=\"text/plain\" data-type=\"text/partytown\" data-category=\"analytics\"></script>\n\
            <script type=\"text/plain\" data-type=\" Module \" data-category=\"analytics\"></script>\n";

        let report = lint_page(&demo(), html);

        assert_eq!(
            located(&report),
            vec![
                ("unknown-category", "line 1"),
                ("unknown-service", "line 2"),
                ("service-category", "line 3"),
                ("inert-type", "line 4"),
                ("no-address", "line 5"),
                ("inert-type", "line 6"),
                ("inert-data-type", "line 7"),
            ]
        );
        assert!(
            report.problems[0].message.contains(
                "site demo has no category \"statistics\" (it has necessary, functional, analytics, marketing)"
            ),
            "{}",
            report.problems[0].message
        );
        assert!(
            report.problems[2]
                .message
                .contains("service \"youtube\" is in category marketing, not analytics"),
            "{}",
            report.problems[2].message
        );
    }

    #[test]
    fn the_widgets_tag_names_this_site() {
        let html = "<script src=\"/crumb/crumb.js?v=2\" data-site=\"shop\"></script>\n\
            <script src=\"crumb.js\"></script>\n\
            <script src=\"/js/notcrumb.js\" data-site=\"shop\"></script>\n\
            <script type=\"module\" src=\"https://consent.example/crumb.js\" data-site=\"demo\"></script>\n\
            <script type=\"text/javascript\" src=\"https://consent.example/crumb.js\" data-site=\"demo\" defer></script>\n\
            <script type=\"2f4c5e7a9b1d3f5e7a9b1d3f-text/javascript\" src=\"https://consent.example/crumb.js\" data-site=\"demo\"></script>\n\
            <script data-cfasync=\"false\" src=\"https://consent.example/crumb.js\" data-site=\"demo\"></script>\n";

        let report = lint_page(&demo(), html);

        // The module never starts; the tag Cloudflare's Rocket Loader
        // rewrote (as a live page shows it) starts late, and the one it
        // is told to leave alone is fine.
        assert_eq!(
            located(&report),
            vec![
                ("widget-site", "line 1"),
                ("widget-site", "line 2"),
                ("widget-type", "line 4"),
                ("widget-type", "line 6"),
            ]
        );
        says(&report, 2, "never starts");
        says(&report, 3, "add data-cfasync=\"false\" to Crumb's tag");
    }

    #[test]
    fn tags_a_page_speed_plugin_holds_back_are_read_as_the_scripts_they_are() {
        // Arrange: tags as WordPress's page-speed plugins and Cloudflare's
        // Rocket Loader rewrite them (held until the visitor's first
        // interaction, or until the page has loaded), next to what they
        // leave alone.
        let html = r#"<script type="rocketlazyloadscript" data-rocket-src="https://consent.example/crumb.js" data-site="demo" defer></script>
<script type="litespeed/javascript" data-src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<script type="rocketlazyloadscript">(function(h,o,t,j,a,r){r.src='https://static.hotjar.com/c/hotjar-'+h._hjSettings.hjid+'.js?sv='})(window,document);</script>
<script type="pmdelayedscript" src="https://connect.facebook.net/en_US/fbevents.js" data-perfmatters-type="text/javascript"></script>
<script type="javascript/blocked" data-wpmeteor-after="REORDER" data-src="https://static.hotjar.com/c/hotjar-1.js?sv=6"></script>
<script type="8a9b0c1d2e3f4a5b6c7d8e9f-text/javascript" async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<script type="rocketlazyloadscript" data-category="analytics" data-service="google-analytics">gtag('config', 'G-1');</script>
<script type="javascript/blocked" data-src="https://static.hotjar.com/c/hotjar-1.js?sv=6"></script>
<script type="text/plain" data-category="analytics" data-service="hotjar">(function(h,o,t,j,a,r){r.src='https://static.hotjar.com/c/hotjar-'})(window,document);</script>
<script type="litespeed/javascript" data-src="/wp-includes/js/jquery/jquery.min.js"></script>
"#;

        // Act
        let report = lint_page(&without_signals(), html);

        // Assert: Crumb's own tag comes late, and says how to exempt it;
        // the vendors' tags run before any choice, whichever tool holds
        // them; a marked script the plugin holds runs ungated. A type
        // WP Meteor gives only with its own mark is another tool's (line
        // 8); a gated script and the site's own held script are fine.
        assert_eq!(
            located(&report),
            vec![
                ("widget-type", "line 1"),
                ("unmarked-tracker", "line 2"),
                ("unmarked-tracker", "line 3"),
                ("unmarked-tracker", "line 4"),
                ("unmarked-tracker", "line 5"),
                ("unmarked-tracker", "line 6"),
                ("ungated-script", "line 7"),
            ]
        );
        says(
            &report,
            0,
            "held back by WP Rocket's \"Delay JavaScript execution\"",
        );
        says(
            &report,
            0,
            "add crumb.js to the scripts it excludes from the delay",
        );
        says(
            &report,
            1,
            "loads the Google tag before any choice (held back by LiteSpeed Cache's delayed JavaScript only until",
        );
        says(&report, 2, "loads Hotjar");
        says(&report, 3, "Perfmatters");
        says(&report, 4, "WP Meteor");
        says(&report, 5, "Cloudflare's Rocket Loader");
        says(
            &report,
            6,
            "once WP Rocket's \"Delay JavaScript execution\" runs every script it holds",
        );
    }

    #[test]
    fn a_page_with_the_wp_consent_api_needs_the_wordpress_signal_and_its_script() {
        // Arrange: a WordPress page as WordPress prints it, the API's
        // script (and its settings) at the end of the body.
        let page = |signals: &str| {
            format!(
                r#"<html><head>{signals}
<script src="https://consent.example.com/crumb.js" data-site="demo" async></script>
</head><body><p>A post.</p>
<script id="wp-consent-api-js-extra">var consent_api = {{"consent_type":"","cookie_prefix":"wp_consent"}};</script>
<script src="https://blog.example.com/wp-content/plugins/wp-consent-api/assets/js/wp-consent-api.min.js?ver=1.0.8" id="wp-consent-api-js"></script>
</body></html>"#
            )
        };
        let signals =
            r#"<script src="https://consent.example.com/v1/sites/demo/signals.js"></script>"#;
        let mut wordpress = demo();
        wordpress.integrations.wordpress =
            Some(serde_json::from_value(serde_json::json!({})).unwrap());

        // Act and assert: the signal off, then on without the script,
        // then both.
        let report = lint_page(&demo(), &page(signals));
        assert_eq!(located(&report), vec![("wp-consent-api", "line 5")]);
        assert!(
            report.problems[0]
                .message
                .contains("turn on integrations.wordpress"),
            "{report:?}"
        );
        let report = lint_page(&wordpress, &page(""));
        assert_eq!(located(&report), vec![("wp-consent-api", "line 5")]);
        assert!(
            report.problems[0]
                .message
                .contains("no Crumb signals script"),
            "{report:?}"
        );
        assert_eq!(located(&lint_page(&wordpress, &page(signals))), vec![]);
        // WP Rocket delaying the API until the visitor's first interaction.
        let delayed = page(signals).replace(
            r#"<script src="https://blog.example.com/wp-content/plugins/wp-consent-api"#,
            r#"<script type="rocketlazyloadscript" data-rocket-src="https://blog.example.com/wp-content/plugins/wp-consent-api"#,
        );
        let report = lint_page(&wordpress, &delayed);
        assert_eq!(located(&report), vec![("wp-consent-api", "line 5")]);
        says(
            &report,
            0,
            "add wp-consent-api.min.js to the scripts it excludes from the delay",
        );
    }

    /// The demo site without its vendor signals.
    fn without_signals() -> SiteConfig {
        let mut site = demo();
        site.integrations = Default::default();
        site
    }

    #[test]
    fn vendors_tags_pasted_unmarked_are_named() {
        // Arrange: tags as the vendors ship them, none marked for Crumb,
        // between the page's own scripts and markup that only names a
        // vendor's address.
        let html = r#"<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<script>!function(f,b,e,v,n,t,s){t.src=v}(window, document,'script','https://connect.facebook.net/en_US/fbevents.js');fbq('init', '1');</script>
<script>(function(h,o,t,j,a,r){r.src='https://static.hotjar.com/c/hotjar-'+h._hjSettings.hjid+'.js?sv='})(window,document);</script>
<iframe src="https://www.youtube.com/embed/ID" title="Video"></iframe>
<img src="https://px.ads.linkedin.com/collect/?pid=1&fmt=gif" height="1" width="1" alt="">
<script type="application/ld+json">{"embedUrl": "https://www.youtube.com/embed/ID", "x": "https://connect.facebook.net/"}</script>
<script>document.querySelector('.facade').onclick = () => play('https://www.youtube.com/embed/ID');</script>
<a href="https://www.facebook.com/tr?id=1">not a request</a>
<script src="/js/app.js"></script>
<script>(function(w,d,s,l,i){j.src='https://www.googletagmanager.com/gtm.js?id='+i+dl;})(window,document,'script','dataLayer','GTM-X');</script>
<iframe src="https://www.google.com/maps/embed?pb=!1m18" loading="lazy"></iframe>
<blockquote class="twitter-tweet"><a href="https://twitter.com/x/status/1">a post</a></blockquote><script async src="https://platform.twitter.com/widgets.js"></script>
<iframe src="https://www.youtube-nocookie.com/embed/ID" title="Video"></iframe>
<iframe src="https://player.vimeo.com/video/1?h=2" allow="autoplay"></iframe>
<script async src="https://maps.googleapis.com/maps/api/js?key=K&callback=initMap"></script>
<script>var tag = document.createElement('script'); tag.src = "https://www.youtube.com/iframe_api";</script>
<script src="https://player.vimeo.com/api/player.js"></script>
<script id="hs-script-loader" async defer src="//js.hs-scripts.com/123.js"></script>
<script>!function(){var i="analytics",analytics=window[i]=window[i]||[];analytics.load=function(key){var t=document.createElement("script");t.src="https://cdn.segment.com/analytics.js/v1/"+key+"/analytics.min.js"}}();</script>
<script>a.src='https://sc-static.net/scevent.min.js';snaptr('init','ID');</script>
<script src="https://cdn.example.com/segment-like/analytics.js"></script>
"#;

        // Act
        let report = lint_page(&without_signals(), html);

        // Assert
        assert_eq!(
            located(&report),
            vec![
                ("unmarked-tracker", "line 2"),
                ("unmarked-tracker", "line 3"),
                ("unmarked-tracker", "line 4"),
                ("unmarked-tracker", "line 5"),
                ("unmarked-tracker", "line 6"),
                ("unmarked-tracker", "line 11"),
                ("unmarked-tracker", "line 12"),
                ("unmarked-tracker", "line 13"),
                ("unmarked-tracker", "line 14"),
                ("unmarked-tracker", "line 15"),
                ("unmarked-tracker", "line 16"),
                ("unmarked-tracker", "line 17"),
                ("unmarked-tracker", "line 18"),
                ("unmarked-tracker", "line 19"),
                ("unmarked-tracker", "line 20"),
                ("unmarked-tracker", "line 21"),
            ]
        );
        says(
            &report,
            13,
            "loads HubSpot's tracking code before any choice",
        );
        says(&report, 14, "loads Segment before any choice");
        says(&report, 15, "loads the Snap Pixel before any choice");
        let message = &report.problems[1].message;
        assert!(
            message.contains("loads the Meta Pixel before any choice: give it type=\"text/plain\"")
                && message.contains("or turn on its consent signal (integrations.meta_pixel)"),
            "{message}"
        );
        assert!(
            report.problems[3]
                .message
                .contains("loads a YouTube embed before any choice"),
            "{}",
            report.problems[3].message
        );
    }

    #[test]
    fn hints_that_contact_a_vendor_before_any_choice_are_named() {
        // Arrange: the hints performance guides and plugins add for
        // vendors' tags, beside the page's own and harmless ones.
        let html = r#"<link rel="preconnect" href="https://www.googletagmanager.com">
<link rel="dns-prefetch" href="//www.googletagmanager.com">
<link rel="preload" as="script" href="https://connect.facebook.net/en_US/fbevents.js">
<link rel="modulepreload" href="https://static.hotjar.com/c/hotjar-1.js">
<link rel="prefetch" href="https://www.googletagmanager.com/gtm.js?id=GTM-X">
<link rel="preconnect" href="https://cdn.example.com" crossorigin>
<link rel="preload" as="script" href="/js/app.js">
<link rel="stylesheet" href="https://static.hotjar.com/x.css">
<link rel="preconnect dns-prefetch" href="//snap.licdn.com">
<link rel="preconnect" href="https://www.google.com">
"#;

        // Act
        let report = lint_page(&without_signals(), html);

        // Assert
        assert_eq!(
            located(&report),
            vec![
                ("unmarked-tracker", "line 1"),
                ("unmarked-tracker", "line 3"),
                ("unmarked-tracker", "line 4"),
                ("unmarked-tracker", "line 5"),
                ("unmarked-tracker", "line 9"),
            ]
        );
        says(
            &report,
            0,
            "opens a connection to the servers of the Google tag before any choice",
        );
        says(
            &report,
            1,
            "fetches the script of the Meta Pixel before any choice",
        );
        says(&report, 1, "take the hint out");
        says(&report, 4, "the LinkedIn Insight Tag");
        // With the demo's signals on, the Meta Pixel may load at once, and
        // under Consent Mode Google Tag Manager's container, so they may be
        // fetched or connected to early too (the Google tag, in basic mode,
        // may not, but it shares its host with the container).
        assert_eq!(
            located(&lint_page(&demo(), html)),
            vec![
                ("unmarked-tracker", "line 4"),
                ("unmarked-tracker", "line 9")
            ]
        );
    }

    #[test]
    fn a_vendor_holding_itself_back_under_the_sites_signal_may_load_at_once() {
        // Arrange: the demo site's Meta Pixel and Matomo signals, and
        // Google Consent Mode in its advanced mode; Crumb's signals script
        // first.
        let site = in_advanced_mode();
        let html = r#"<script src="/v1/sites/demo/signals.js"></script>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<script>t.src='https://connect.facebook.net/en_US/fbevents.js';fbq('init', '1');</script>
<script>var u="//matomo.example.com/";g.src=u+'matomo.js';</script>
<img src="https://www.facebook.com/tr?id=1&ev=PageView" height="1" width="1" style="display:none">
<script>j.src='https://www.googletagmanager.com/gtm.js?id='+i+dl;</script>
"#;

        // Act / Assert: the scripts may run (each vendor waits for the
        // choice itself); the pixel image, a request of its own, may not.
        let report = lint_page(&site, html);
        assert_eq!(located(&report), vec![("unmarked-tracker", "line 5")]);
        // In basic mode the Google tag is one to hold back; Google Tag
        // Manager's container is not (its consent settings hold its tags).
        let basic = lint_page(&demo(), html);
        let got: Vec<_> = basic.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(got, vec!["line 2", "line 5"]);
        assert!(
            basic.problems[0]
                .message
                .contains("advanced mode (integrations.google_consent_mode)"),
            "{}",
            basic.problems[0].message
        );
    }

    #[test]
    fn vendors_other_hosts_and_newer_snippets_are_named_too() {
        // Arrange: a vendor's regional host, or the address of its newer
        // snippet, each pasted unmarked.
        let html = r#"<script async src="https://cdn.eu.amplitude.com/script/KEY.js"></script>
<script>a.src="https://cdn.us.heap-api.com/config/"+e+"/heap_config.js";</script>
<script>k.src="https://mc.yandex.com/metrika/tag.js";</script>
<script src="https://t.contentsquare.net/uxa/0123.js"></script>
<script src="https://cdn.optimizely.com/public/123/s/web.js"></script>
<script async src="//dynamic.criteo.com/js/ld/ld.js?a=1"></script>
<script id="ze-snippet" src="https://static.zdassets.com/ekr/snippet.js?key=K"></script>
<script>s1.src='https://embed.tawk.to/ID/default';</script>
<script>t.src="https://js.driftt.com/include/"+n+"/id.js";</script>
<script>s.src="https://client.crisp.chat/l.js";</script>
<script src="https://js-eu1.hs-scripts.com/123.js"></script>
<script src="/assets/lite-yt-embed.js"></script>
<script type="module" src="https://cdn.jsdelivr.net/npm/@slightlyoff/lite-vimeo@0.1.1/lite-vimeo.js"></script>
"#;

        // Act / Assert
        every_line_names_a_vendor(html);
    }

    #[test]
    fn chats_recorders_email_marketing_and_review_widgets_are_named() {
        // Arrange: each vendor's snippet as it ships, pasted unmarked.
        let html = r#"<script src="//code.tidio.co/KEY.js" async></script>
<script>(function(n,t,c){var e=t.createElement("script");e.src="https://cdn.livechatinc.com/tracking.js";})(window,document,[]);</script>
<script>c.src='https://web-sdk.smartlook.com/recorder.js';</script>
<script async src="https://static.klaviyo.com/onsite/js/klaviyo.js?company_id=ID"></script>
<script id="mcjs">!function(c,h,i,m,p){}(document,"script","https://chimpstatic.com/mcjs-connected/js/users/a/b.js");</script>
<script>var s = document.createElement('script'); s.src = 'https://pi.pardot.com/pd.js';</script>
<script>s.src='//munchkin.marketo.net/munchkin.js';</script>
<script>s.src = "https://s.adroll.com/j/" + adroll_adv_id + "/roundtrip.js";</script>
<script src="https://assets.calendly.com/assets/external/widget.js" async></script>
<script src="//widget.trustpilot.com/bootstrap/v5/tp.widget.bootstrap.min.js" async></script>
"#;

        // Act / Assert
        let report = every_line_names_a_vendor(html);
        says(&report, 3, "Klaviyo");
    }

    /// Lints `html` (a vendor's snippet on each line) against a site with
    /// no vendor signals, and checks that each line is named an unmarked
    /// tracker; returns the report.
    fn every_line_names_a_vendor(html: &str) -> PageReport {
        let report = lint_page(&without_signals(), html);
        let lines: Vec<String> = (1..=html.lines().count())
            .map(|n| format!("line {n}"))
            .collect();
        let expected: Vec<_> = lines
            .iter()
            .map(|l| ("unmarked-tracker", l.as_str()))
            .collect();
        assert_eq!(located(&report), expected);
        report
    }

    #[test]
    fn the_tiktok_pixel_may_load_at_once_under_its_signal_but_tiktoks_embed_script_not() {
        let html = r#"<script src="/v1/sites/demo/signals.js"></script>
<script>!function (w, d, t) {var ttq=w[t]=w[t]||[];ttq.load=function(e){var r="https://analytics.tiktok.com/i18n/pixel/events.js"};ttq.load('ID');ttq.page();}(window, document, 'ttq');</script>
<blockquote class="tiktok-embed"><a href="https://www.tiktok.com/@x">x</a></blockquote><script async src="https://www.tiktok.com/embed.js"></script>
"#;
        let mut site = without_signals();
        site.integrations.tiktok_pixel =
            Some(serde_json::from_value(serde_json::json!({"category": "marketing"})).unwrap());

        // Without the signal both track before any choice; with it the
        // pixel waits for the choice itself, the embed's script does not.
        let report = lint_page(&without_signals(), html);
        assert_eq!(
            located(&report),
            vec![
                ("signals-tag", "line 1"),
                ("unmarked-tracker", "line 2"),
                ("unmarked-tracker", "line 3")
            ]
        );
        says(
            &report,
            1,
            "or turn on its consent signal (integrations.tiktok_pixel)",
        );
        says(&report, 2, "loads TikTok's embed script before any choice");
        assert_eq!(
            located(&lint_page(&site, html)),
            vec![("unmarked-tracker", "line 3")]
        );
    }

    #[test]
    fn hubspots_tracking_code_may_load_at_once_under_its_signal_after_crumbs_script() {
        // Arrange: HubSpot's embed code as HubSpot ships it, after Crumb's
        // signals script, and the same before it.
        let tag = r#"<script id="hs-script-loader" async defer src="//js-eu1.hs-scripts.com/123.js"></script>"#;
        let after = format!("<script src=\"/v1/sites/demo/signals.js\"></script>\n{tag}\n");
        let before = format!("{tag}\n<script src=\"/v1/sites/demo/signals.js\"></script>\n");
        let mut site = demo();
        site.integrations.hubspot = Some(serde_json::from_value(serde_json::json!({})).unwrap());

        // Act / Assert: without the signal it tracks before any choice;
        // with it, it may load once Crumb's script has set its consent.
        let report = lint_page(&demo(), &after);
        assert_eq!(located(&report), vec![("unmarked-tracker", "line 2")]);
        says(
            &report,
            0,
            "or turn on its consent signal (integrations.hubspot)",
        );
        assert_eq!(located(&lint_page(&site, &after)), vec![]);
        assert_eq!(
            located(&lint_page(&site, &before)),
            vec![("signals-order", "line 1")]
        );
    }

    #[test]
    fn a_page_element_with_a_class_crumbs_stylesheets_style_is_named() {
        let html = r#"<nav class="crumbs"><a class="crumb" href="/">Home</a> <span class="crumb-sep">/</span>
<h1 class="page crumb-title">Mugs</h1>
<p class="crumb-text">Handmade</p>
<div class="crumb-item">ok</div>
"#;

        // Act
        let report = lint_page(&demo(), html);

        // Assert: `crumb` and names Crumb does not style are fine.
        assert_eq!(
            located(&report),
            vec![("crumb-class", "line 2"), ("crumb-class", "line 3")]
        );
        says(
            &report,
            0,
            "has class crumb-title, a name Crumb's stylesheets give their own elements",
        );
    }

    #[test]
    fn every_class_crumbs_stylesheets_style_is_listed() {
        let sheets = [
            include_str!("../../widget/crumb.css"),
            include_str!("../../widget/dialog.css"),
            include_str!("../../widget/declaration.css"),
        ];
        for sheet in sheets {
            for (at, _) in sheet.match_indices(".crumb-") {
                let name: String = sheet[at + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                assert!(CRUMB_CLASSES.contains(&name.as_str()), "{name}");
            }
        }
    }

    /// The demo site with Google Consent Mode in its advanced mode (and
    /// its other signals).
    fn in_advanced_mode() -> SiteConfig {
        let mut site = demo();
        let mut gcm = site.integrations.google_consent_mode.clone().unwrap();
        gcm.mode = ConsentModeKind::Advanced;
        site.integrations.google_consent_mode = Some(gcm);
        site
    }

    #[test]
    fn a_vendor_that_loads_at_once_under_its_signal_needs_crumbs_signals_script_first() {
        // Arrange: vendors' tags that load at once, as their signals let
        // them, on a page without Crumb's signals script, and on one where
        // it comes after the first of them.
        let tags = r#"<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<script>t.src='https://connect.facebook.net/en_US/fbevents.js';fbq('init', '1');</script>
<script type="text/plain" data-category="analytics" data-service="hotjar">r.src='https://static.hotjar.com/c/hotjar-1.js'</script>
"#;
        let late = format!(
            "{tags}<script src=\"https://consent.example/v1/sites/demo/signals.js\"></script>\n{tags}"
        );

        // Act
        let without = lint_page(&in_advanced_mode(), tags);
        let after = lint_page(&in_advanced_mode(), &late);

        // Assert: without it, each such tag is named (the gated one is
        // Crumb's to hold back); with it late, those before it are.
        assert_eq!(
            located(&without),
            vec![("signals-order", "line 1"), ("signals-order", "line 2")]
        );
        says(
            &without,
            0,
            "loads the Google tag at once, as its consent signal lets it, but the page has no Crumb signals script",
        );
        says(&without, 0, "/v1/sites/demo/signals.js");
        assert_eq!(
            located(&after),
            vec![("signals-order", "line 1"), ("signals-order", "line 2")]
        );
        says(
            &after,
            1,
            "loads the Meta Pixel at once, as its consent signal lets it, but Crumb's signals script comes only on line 4",
        );
    }

    #[test]
    fn crumbs_signals_script_names_this_site_and_runs_where_the_page_reads_it() {
        let html = r#"<script src="/crumb/v1/sites/demo/signals.js"></script>
<script src="https://consent.example/v1/sites/shop/signals.js"></script>
<script async src="https://consent.example/v1/sites/demo/signals.js"></script>
<script src="https://consent.example/v1/sites/demo/signals.js" defer></script>
<script type="text/plain" data-category="necessary" src="/v1/sites/demo/signals.js"></script>
<script type="rocketlazyloadscript" data-rocket-src="/v1/sites/demo/signals.js"></script>
<script src="/js/signals.js"></script>
"#;

        // Act
        let report = lint_page(&demo(), html);
        let off = lint_page(
            &without_signals(),
            "<script src=\"/v1/sites/demo/signals.js\"></script>",
        );

        // Assert
        assert_eq!(
            located(&report),
            vec![
                ("signals-tag", "line 2"),
                ("signals-tag", "line 3"),
                ("signals-tag", "line 4"),
                ("signals-tag", "line 5"),
                ("signals-tag", "line 6"),
            ]
        );
        says(
            &report,
            0,
            "sends site shop's consent signals, not this config's site demo",
        );
        says(&report, 1, "runs only after the page has been read");
        says(&report, 3, "never runs as the page is read");
        says(
            &report,
            4,
            "add signals.js to the scripts it excludes from the delay",
        );
        assert_eq!(located(&off), vec![("signals-tag", "line 1")]);
        says(&off, 0, "404 not_enabled");
    }

    #[test]
    fn a_noscript_block_that_tracks_is_named_at_its_element() {
        // Arrange: the no-script parts of the Meta Pixel's, Google Tag
        // Manager's, Matomo's and LinkedIn's snippets, and harmless ones.
        let html = r#"<noscript><img height="1" width="1" style="display:none"
  src="https://www.facebook.com/tr?id=1&ev=PageView&noscript=1"/></noscript>
<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-X" height="0" width="0" style="display:none;visibility:hidden"></iframe></noscript>
<NOSCRIPT><p><img src="https://matomo.example.com/matomo.php?idsite=1&amp;rec=1" style="border:0;" alt="" /></p></NOSCRIPT>
<noscript><img height="1" width="1" style="display: none;" alt="" src="https://t.example.com/collect?id=9" /></noscript>
<noscript><img src="https://cdn.example.com/mug.jpg?v=2" alt="Stoneware mug" width="600" height="400"></noscript>
<noscript><p>This shop works best with JavaScript.</p><img src="data:image/gif;base64,R0lG" width="1" height="1"></noscript>
"#;

        // Act
        let report = lint_page(&demo(), html);

        // Assert
        assert_eq!(
            located(&report),
            vec![
                ("noscript-tracker", "line 1"),
                ("noscript-tracker", "line 3"),
                ("noscript-tracker", "line 4"),
                ("noscript-tracker", "line 5"),
            ]
        );
        assert!(
            report.problems[0].message.contains(
                "loads the Meta Pixel for visitors without JavaScript, where Crumb cannot ask first"
            ),
            "{}",
            report.problems[0].message
        );
        assert!(
            report.problems[3]
                .message
                .contains("sends a hidden image's request")
        );
    }

    #[test]
    fn a_vendors_tag_marked_strictly_necessary_is_named() {
        let html = r#"<script type="text/plain" data-category="necessary" data-src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<script type="text/plain" data-category="necessary">t.src='https://static.hotjar.com/c/hotjar-1.js';</script>
<script type="text/plain" data-category="necessary">g.src=u+'matomo.js';</script>
<script type="text/plain" data-category="necessary" data-src="/js/cart.js"></script>
<script type="text/plain" data-category="analytics" data-src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
"#;

        let report = lint_page(&demo(), html);

        assert_eq!(
            located(&report),
            vec![
                ("tracker-necessary", "line 1"),
                ("tracker-necessary", "line 2"),
            ]
        );
        assert!(
            report.problems[1]
                .message
                .contains("marks Hotjar strictly necessary, so it runs before any choice"),
            "{}",
            report.problems[1].message
        );
    }

    #[test]
    fn google_fonts_loaded_before_any_choice_are_named() {
        // Arrange: hints and Google's own embed code (its style sheet), an
        // `@import` and a preloaded font file, then the ways that wait:
        // fonts served by the site, and the README's gated script.
        let html = r#"<link rel="dns-prefetch" href="https://fonts.googleapis.com">
<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>
<link href="https://fonts.googleapis.com/css2?family=Roboto&display=swap" rel="stylesheet">
<style>
  @import url('https://fonts.googleapis.com/css2?family=Lato');
</style>
<link rel="preload" as="font" href="https://fonts.gstatic.com/s/roboto/v30/x.woff2" crossorigin>
<link rel="stylesheet" href="/fonts/roboto.css">
<style>body { font-family: Roboto, sans-serif }</style>
<script type="text/plain" data-category="functional">
  document.head.append(Object.assign(document.createElement('link'), {
    rel: 'stylesheet',
    href: 'https://fonts.googleapis.com/css2?family=Roboto&display=swap',
  }));
</script>
"#;

        // Act
        let report = lint_page(&demo(), html);

        // Assert
        assert_eq!(
            located(&report),
            vec![
                ("google-fonts", "line 2"),
                ("google-fonts", "line 3"),
                ("google-fonts", "line 4"),
                ("google-fonts", "line 7"),
            ]
        );
        says(
            &report,
            0,
            "opens a connection to Google Fonts' servers before any choice",
        );
        says(
            &report,
            1,
            "serve the font files from the site itself, or add the style sheet from a gated script",
        );
    }

    #[test]
    fn adobe_fonts_loaded_before_any_choice_are_named() {
        // Arrange: Adobe Fonts' CSS and JavaScript embed codes, the CSS
        // one imported, a preconnect, and the same gated.
        let html = r#"<link rel="stylesheet" href="https://use.typekit.net/abc1234.css">
<script src="https://use.typekit.net/abc1234.js"></script>
<style>@import url("https://use.typekit.net/abc1234.css");</style>
<link rel="preconnect" href="https://use.typekit.net" crossorigin>
<link rel="dns-prefetch" href="//use.typekit.net">
<script type="text/plain" data-category="functional">
  document.head.append(Object.assign(document.createElement('link'), {
    rel: 'stylesheet', href: 'https://use.typekit.net/abc1234.css',
  }));
</script>
"#;

        // Act
        let report = lint_page(&demo(), html);

        // Assert
        assert_eq!(
            located(&report),
            vec![
                ("adobe-fonts", "line 1"),
                ("adobe-fonts", "line 2"),
                ("adobe-fonts", "line 3"),
                ("adobe-fonts", "line 4"),
            ]
        );
        says(
            &report,
            0,
            "loads Adobe Fonts from Adobe's servers before any choice, which gives Adobe every visitor's IP address (with the page's host name",
        );
        says(&report, 3, "opens a connection to Adobe Fonts' servers");
    }

    #[test]
    fn tags_still_marked_for_another_consent_tool_are_named_with_crumbs_category() {
        // Arrange: markup as Cookiebot, vanilla-cookieconsent 2, OneTrust,
        // CookieYes, iubenda, Usercentrics and Klaro document it, then a
        // page's own templates and lazy images, which are no tool's.
        let html = r#"<script type="text/plain" data-cookieconsent="statistics" src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<iframe data-cookieblock-src="https://www.youtube.com/embed/ID" data-cookieconsent="marketing"></iframe>
<script type="text/plain" data-cookiecategory="analytics">/* snippet */</script>
<script type="text/plain" class="optanon-category-C0002-C0004">/* snippet */</script>
<script type="text/plain" data-cookieyes="cookieyes-analytics">/* snippet */</script>
<script type="text/plain" class="_iub_cs_activate" data-iub-purposes="4, 5">/* snippet */</script>
<script type="text/plain" data-usercentrics="Hotjar">/* snippet */</script>
<script type="text/plain" data-type="text/javascript" data-name="hotjar">/* snippet */</script>
<script type="text/plain" data-cookieconsent="preferences, statistics">/* snippet */</script>
<script type="text/plain" data-name="row-template"><tr><td></td></tr></script>
<script type="text/plain" class="template">{{ name }}</script>
<img data-src="/img/shoe.jpg" class="lazyload" alt="A shoe">
<script data-cookieconsent="ignore" src="/js/app.js"></script>
<script type="text/plain" data-cookieconsent="ignore" id="row">{{ row }}</script>
"#;

        // Act
        let report = lint_page(&demo(), html);

        // Assert
        assert_eq!(
            report
                .problems
                .iter()
                .map(|p| (p.rule, p.path.clone()))
                .collect::<Vec<_>>(),
            (1..=9)
                .map(|line| ("other-tool-marking", format!("line {line}")))
                .collect::<Vec<_>>()
        );
        says(
            &report,
            0,
            "is marked for Cookiebot (data-cookieconsent=\"statistics\"), which Crumb does not read, so it never runs: give it data-category=\"analytics\"",
        );
        says(
            &report,
            1,
            "never loads: give it data-category=\"marketing\", and its address in data-src",
        );
        says(&report, 3, "OneTrust");
        says(&report, 3, "data-category=\"marketing\"");
        says(&report, 4, "data-category=\"analytics\"");
        says(&report, 5, "data-category=\"marketing\"");
        says(&report, 6, "give it the data-category of what it does");
        says(&report, 7, "Klaro");
        says(&report, 8, "data-category=\"analytics\"");
    }

    #[test]
    fn site_code_that_waits_for_another_consent_tool_is_named() {
        let html = r#"<script>window.addEventListener('CookiebotOnAccept', function () { if (Cookiebot.consent.marketing) load(); });</script>
<script>function OptanonWrapper() { if (OnetrustActiveGroups.includes('C0004')) load(); }</script>
<script type="text/plain" data-category="analytics">if (CookieConsent.acceptedCategory('analytics')) load();</script>
<script>document.addEventListener('crumb:change', (e) => e.detail?.categories.marketing && load());</script>
"#;

        let report = lint_page(&demo(), html);

        assert_eq!(
            located(&report),
            vec![
                ("other-tool-api", "line 1"),
                ("other-tool-api", "line 2"),
                ("other-tool-api", "line 3"),
            ]
        );
        says(
            &report,
            0,
            "waits for or asks Cookiebot (CookiebotOnAccept), which no longer answers once Crumb asks instead: listen for crumb:change",
        );
    }
}
