//! The check of a site's own pages against its config (`crumb lint CONFIG
//! --page FILE`): the markup mistakes that make a page track before any
//! choice, or keep something from ever running, which no check of the
//! config alone can see. Each element Crumb would gate is looked at as the
//! widget looks at it (`widget/src/gate.rs`):
//!
//! - a `<script>` with `data-category` runs at once unless its `type` is
//!   `text/plain`; any other type that is not JavaScript is never released;
//! - an `<iframe>` or `<img>` with `data-category` loads at once from a
//!   `src`, and needs its address in `data-src`;
//! - other elements with `data-category` (`<link>`, `<video>`, ...) are not
//!   gated at all;
//! - a `data-category` the site does not have, or a `data-service` it does
//!   not have, is never allowed; a service named under another category
//!   than its own is allowed only when both are;
//! - the widget's own tag (`crumb.js`) names this site in `data-site`.
//!
//! The page is read as HTML's tokenizer reads it (html5gum, with the
//! states a `<script>` or `<style>` switches to), so markup inside
//! scripts, comments and attribute values is not taken for elements.

use std::collections::BTreeMap;

use crumb_schema::{Category, SiteConfig};
use html5gum::{DefaultEmitter, Token, Tokenizer};

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

/// Checks the page `html` against `site`'s config.
pub fn lint_page(site: &SiteConfig, html: &str) -> PageReport {
    let mut emitter = DefaultEmitter::<usize>::new_with_span();
    // A tokenizer alone reads a script's text as markup; HTML's tree
    // builder would switch it to the script's own state.
    emitter.naively_switch_states(true);
    let mut report = PageReport::default();
    // Reading a `&str` cannot fail: the error type is `Infallible`.
    for Ok(token) in Tokenizer::new_with_emitter(html, emitter) {
        let Token::StartTag(tag) = token else {
            continue;
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
        let element = Element {
            name,
            attrs,
            line: line_of(html, tag.span.start),
        };
        element.check(site, &mut report);
    }
    report
}

/// Whether an embed's `src` loads anything before Crumb has looked at it:
/// an empty one, `about:blank` and a `data:` image (lazy loaders'
/// stand-ins beside a `data-src`) do not.
fn loads_something(src: &str) -> bool {
    let src = src.trim().to_ascii_lowercase();
    !(src.is_empty() || src == "about:blank" || src.starts_with("data:"))
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let before = text.get(..offset).unwrap_or(text);
    before.bytes().filter(|&b| b == b'\n').count() + 1
}

struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    line: usize,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    /// The start tag with the attributes that matter here, values cut
    /// short: enough to find it in the page.
    fn describe(&self) -> String {
        let mut out = format!("<{}", self.name);
        for name in [
            "type",
            "src",
            "href",
            "data-src",
            "data-category",
            "data-service",
            "data-site",
        ] {
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
        if self.name == "script" && self.is_crumbs_tag() {
            self.check_widget_tag(site, report);
            return;
        }
        let Some(category) = self.attr("data-category") else {
            return;
        };
        // Pages use `data-category` for their own ends too (a shop's
        // product filters): an element counts as marked for Crumb when it
        // names one of Crumb's categories or a service, or when the widget
        // would gate it.
        let for_crumb = Category::parse(category).is_some() || self.attr("data-service").is_some();
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
                if kind.is_empty() || JAVASCRIPT_TYPES.contains(&kind) {
                    let what = "runs at once, before any choice: give it type=\"text/plain\" (its own type, if any, goes in data-type)";
                    return fail(report, "ungated-script", what);
                }
                if raw != "text/plain" {
                    let what = "never runs: Crumb releases scripts of type \"text/plain\" only (the type to run as goes in data-type)";
                    return fail(report, "inert-type", what);
                }
            }
            "iframe" | "img" => {
                if self.attr("src").is_some_and(loads_something) {
                    let what =
                        "loads at once, before any choice: give its address in data-src, not src";
                    return fail(report, "ungated-embed", what);
                }
                if self.attr("data-src").is_none_or(|s| s.trim().is_empty()) {
                    let what = "never loads anything: give its address in data-src";
                    return fail(report, "no-address", what);
                }
            }
            "link" | "video" | "audio" | "source" | "embed" | "object" => {
                let what = "is not gated: Crumb holds back scripts, iframes and images only, so it loads at once";
                return fail(report, "not-gated", what);
            }
            _ => return,
        }
        report.gated += 1;
        self.check_names(site, category, report);
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

    /// Crumb's own tag: a script whose address ends in `crumb.js`.
    fn is_crumbs_tag(&self) -> bool {
        self.attr("src").is_some_and(|src| {
            let path = src.split(['?', '#']).next().unwrap_or("");
            path == "crumb.js" || path.ends_with("/crumb.js")
        })
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
    fn elements_that_would_never_run_are_named() {
        let html = "<script type=\"text/plain\" data-category=\"statistics\"></script>\n\
            <script type=\"text/plain\" data-category=\"marketing\" data-service=\"vimeo\"></script>\n\
            <iframe data-src=\"https://www.youtube.com/embed/ID\" data-category=\"analytics\" data-service=\"youtube\"></iframe>\n\
            <script type=\" text/plain \" data-category=\"analytics\"></script>\n\
            <iframe data-category=\"marketing\"></iframe>\n\
            <script type=\"text/x-template\" data-category=\"analytics\"></script>\n";

        let report = lint_page(&demo(), html);

        let got: Vec<_> = report
            .problems
            .iter()
            .map(|p| (p.rule, p.path.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("unknown-category", "line 1"),
                ("unknown-service", "line 2"),
                ("service-category", "line 3"),
                ("inert-type", "line 4"),
                ("no-address", "line 5"),
                ("inert-type", "line 6"),
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
            <script src=\"/js/notcrumb.js\" data-site=\"shop\"></script>\n";

        assert_eq!(
            rules(html),
            vec![
                ("widget-site", "line 1".into()),
                ("widget-site", "line 2".into()),
            ]
        );
    }
}
