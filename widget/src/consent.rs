//! A visitor's choice and its two encodings: the `crumb_consent` cookie
//! value and the JSON the server and site code receive. Pure code, unit
//! tested on the host.

use alloc::string::String;

/// Category indexes, in the order of `CATEGORY_KEYS`.
pub const NECESSARY: usize = 0;
pub const CATEGORY_KEYS: [&str; 4] = ["necessary", "functional", "analytics", "marketing"];

pub fn category_index(key: &str) -> Option<usize> {
    CATEGORY_KEYS.iter().position(|k| *k == key)
}

pub fn category_key(idx: usize) -> &'static str {
    CATEGORY_KEYS.get(idx).copied().unwrap_or_default()
}

/// How a choice was made; the letter is its cookie form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    AcceptAll,
    RejectAll,
    Custom,
    /// A choice that leaves the site's sale or sharing categories refused
    /// while the browser sends Global Privacy Control.
    Gpc,
}

impl Method {
    pub fn key(self) -> &'static str {
        match self {
            Method::AcceptAll => "accept_all",
            Method::RejectAll => "reject_all",
            Method::Custom => "custom",
            Method::Gpc => "gpc",
        }
    }

    fn letter(self) -> &'static str {
        match self {
            Method::AcceptAll => "a",
            Method::RejectAll => "r",
            Method::Custom => "c",
            Method::Gpc => "g",
        }
    }

    fn from_letter(s: &str) -> Option<Method> {
        match s {
            "a" => Some(Method::AcceptAll),
            "r" => Some(Method::RejectAll),
            "c" => Some(Method::Custom),
            "g" => Some(Method::Gpc),
            _ => None,
        }
    }
}

/// The most services a site may declare: the widget keeps one bit per
/// service (the server's config check enforces it).
pub const MAX_SERVICES: usize = 64;

/// Yes or no per category (bit i of `cats` is category i; necessary is
/// always set) and per service (bit i of `svcs` is the config's service i).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choices {
    pub cats: u8,
    pub svcs: u64,
}

impl Choices {
    /// Nothing but the strictly necessary: the state before any choice.
    pub fn necessary_only(service_cats: impl Iterator<Item = usize>) -> Choices {
        let mut c = Choices { cats: 1, svcs: 0 };
        for (i, cat) in service_cats.enumerate() {
            c.set_service(i, cat == NECESSARY);
        }
        c
    }

    pub fn service(&self, i: usize) -> bool {
        i < MAX_SERVICES && self.svcs & (1 << i) != 0
    }

    pub fn set_service(&mut self, i: usize, on: bool) {
        if i < MAX_SERVICES {
            if on {
                self.svcs |= 1 << i;
            } else {
                self.svcs &= !(1 << i);
            }
        }
    }

    pub fn allows(&self, cat: usize) -> bool {
        cat == NECESSARY || self.cats & (1 << cat) != 0
    }

    pub fn set(&mut self, cat: usize, on: bool) {
        if cat != NECESSARY {
            if on {
                self.cats |= 1 << cat;
            } else {
                self.cats &= !(1 << cat);
            }
        }
    }
}

/// After this many failed sends a choice the server never acknowledged is
/// given up: the visitor is asked again on their next page view.
pub const GIVE_UP: u8 = 12;

/// The pause before resending an unacknowledged choice on a later page
/// view doubles from this with every failed send (30 s, 1 min, 2 min, ...
/// about 17 hours before the last), so an unreachable server is not asked
/// on every page view.
const RETRY_BASE_MS: u64 = 30_000;

/// What the cookie holds: the server's record of the consent, in the form
/// the server wrote (`crumb_schema::cookie`), or, until the server has
/// acknowledged it, the visitor's choice marked pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Empty until the server has issued one.
    pub consent_id: String,
    pub revision: u32,
    pub given_ms: u64,
    pub expires_ms: u64,
    pub method: Method,
    pub cats: u8,
    /// Ids of the allowed services, joined by `.` (their cookie form).
    pub services: String,
    /// 0: the server recorded this choice. From 1: it has not acknowledged
    /// it yet, after `pending - 1` failed sends.
    pub pending: u8,
}

/// The cookie value's field separator, as a byte (for reading) and as
/// text (for writing: `String::push` of a `char` pulls in UTF-8 encoding).
const SEP: u8 = b'~';
const SEP_STR: &str = "~";

const DIGITS: &str = "0123456789";

pub fn push_u64(out: &mut String, mut n: u64) {
    // Digits come out lowest first, so they fill a buffer from its end.
    // (`get_mut` and `get` rather than indexing: no panic path.)
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while let Some(slot) = i.checked_sub(1).and_then(|j| buf.get_mut(j)) {
        *slot = b'0' + (n % 10) as u8;
        i -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in buf.get(i..).unwrap_or_default() {
        let d = usize::from(b - b'0');
        out.push_str(DIGITS.get(d..=d).unwrap_or_default());
    }
}

/// `YYYY-MM-DD` (UTC) of a time in milliseconds since 1970: the civil
/// date of a day count, after Howard Hinnant's `civil_from_days`.
pub fn push_date(out: &mut String, ms: u64) {
    let z = ms / 86_400_000 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    push_u64(out, yoe + era * 400 + u64::from(month <= 2));
    for part in [month, day] {
        out.push_str(if part < 10 { "-0" } else { "-" });
        push_u64(out, part);
    }
}

/// The pieces of `s` between `sep` bytes (an ASCII separator). Byte-wise
/// rather than `str::split(char)`, whose searcher alone is a kilobyte of
/// wasm; an ASCII byte is always a character boundary.
pub fn split(s: &str, sep: u8) -> Split<'_> {
    Split { rest: Some(s), sep }
}

pub struct Split<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let (head, tail) = split_once(s, self.sep).unzip();
        self.rest = tail;
        Some(head.unwrap_or(s))
    }
}

/// `s` before and after its first `sep` byte (ASCII).
pub fn split_once(s: &str, sep: u8) -> Option<(&str, &str)> {
    // An index loop: the iterator form kept its state in memory at
    // opt-level "z" and was twice the size.
    let mut i = 0;
    let bytes = s.as_bytes();
    while let Some(&b) = bytes.get(i) {
        if b == sep {
            let (head, tail) = s.split_at_checked(i)?;
            return Some((head, tail.get(1..)?));
        }
        i += 1;
    }
    None
}

/// The fields of a compact text (the config, the cookie) in order.
/// Reading past the end yields empty fields and marks the text bad, as
/// does a number that is not one, so reading is straight-line code with
/// one check at the end (a `?` per field cost kilobytes of cleanup paths).
pub struct Fields<'a> {
    it: Split<'a>,
    pub bad: bool,
}

impl<'a> Fields<'a> {
    pub fn new(text: &'a str, sep: u8) -> Fields<'a> {
        Fields {
            it: split(text, sep),
            bad: false,
        }
    }

    #[inline(never)]
    pub fn s(&mut self) -> &'a str {
        self.it.next().unwrap_or_else(|| {
            self.bad = true;
            ""
        })
    }

    /// A number; anything else reads as 0 and marks the text bad.
    #[inline(never)]
    pub fn n64(&mut self) -> u64 {
        let v = parse_u64(self.s());
        self.bad |= v.is_none();
        v.unwrap_or(0)
    }

    /// A number up to `u32::MAX`, else as [`Fields::n64`].
    pub fn n(&mut self) -> u32 {
        let v = u32::try_from(self.n64()).ok();
        self.bad |= v.is_none();
        v.unwrap_or(0)
    }

    /// Whether every field was read and none was bad.
    pub fn done(mut self) -> bool {
        !self.bad && self.it.next().is_none()
    }
}

pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

/// Ids that go into the cookie and into hand-built JSON must be plain
/// slugs, so neither needs escaping.
pub fn is_slug(s: &str) -> bool {
    let mut ok = !s.is_empty();
    for &b in s.as_bytes() {
        ok &= b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    }
    ok
}

impl Stored {
    /// `1~id~revision~given~expires~method~cats~svc.svc~pending`: only
    /// cookie-safe characters, no quoting needed.
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(96);
        s.push_str("1");
        s.push_str(SEP_STR);
        s.push_str(&self.consent_id);
        s.push_str(SEP_STR);
        push_u64(&mut s, u64::from(self.revision));
        s.push_str(SEP_STR);
        push_u64(&mut s, self.given_ms);
        s.push_str(SEP_STR);
        push_u64(&mut s, self.expires_ms);
        s.push_str(SEP_STR);
        s.push_str(self.method.letter());
        s.push_str(SEP_STR);
        push_u64(&mut s, u64::from(self.cats));
        s.push_str(SEP_STR);
        s.push_str(&self.services);
        s.push_str(SEP_STR);
        push_u64(&mut s, u64::from(self.pending));
        s
    }

    pub fn decode(s: &str) -> Option<Stored> {
        let mut f = Fields::new(s, SEP);
        let version = f.s();
        let consent_id = f.s();
        let revision = f.n();
        let given_ms = f.n64();
        let expires_ms = f.n64();
        let method = Method::from_letter(f.s());
        let cats = f.n();
        let services = f.s();
        let pending = f.n();
        let ok = f.done()
            && version == "1"
            && (consent_id.is_empty() || is_slug(consent_id))
            && (services.is_empty() || split(services, b'.').all(is_slug));
        Some(Stored {
            consent_id: consent_id.into(),
            revision,
            given_ms,
            expires_ms,
            method: method.filter(|_| ok)?,
            cats: u8::try_from(cats).ok()? | 1,
            services: services.into(),
            pending: u8::try_from(pending).ok()?,
        })
    }

    pub fn allows_service(&self, id: &str) -> bool {
        split(&self.services, b'.').any(|s| s == id)
    }

    /// Whether the two hold the same choice. (The server lists services
    /// in the config's order, as the widget does.)
    pub fn same_choice(&self, other: &Stored) -> bool {
        self.method == other.method && self.cats == other.cats && self.services == other.services
    }

    /// A choice the server has not acknowledged, and that is still worth
    /// sending.
    pub fn unsent(&self) -> bool {
        (1..GIVE_UP).contains(&self.pending)
    }

    /// Whether an unacknowledged choice is due to be sent again on a new
    /// page view, given when it was made: at once after no failure, then
    /// after a pause that doubles with each failed send.
    pub fn due(&self, now_ms: u64) -> bool {
        // `unsent` bounds the failures (at most GIVE_UP - 2), so the shift
        // stays small.
        self.unsent() && {
            let wait = RETRY_BASE_MS * ((1u64 << (self.pending - 1)) - 1);
            now_ms >= self.given_ms.saturating_add(wait)
        }
    }
}

/// `{"necessary":true,...}` for the site's categories (by index): a site
/// with two categories hears of two, nothing else.
fn push_categories(out: &mut String, cats: u8, site: impl Iterator<Item = usize>) {
    out.push_str("{");
    for (n, i) in site.enumerate() {
        if n > 0 {
            out.push_str(",");
        }
        push_key(out, category_key(i));
        out.push_str(if i == NECESSARY || cats & (1 << i) != 0 {
            "true"
        } else {
            "false"
        });
    }
    out.push_str("}");
}

fn push_key(out: &mut String, key: &str) {
    out.push_str("\"");
    out.push_str(key);
    out.push_str("\":");
}

fn push_str_field(out: &mut String, key: &str, value: &str) {
    push_key(out, key);
    out.push_str("\"");
    out.push_str(value);
    out.push_str("\",");
}

/// `{"hotjar":true,...}` for the given service ids and states.
fn push_services<'a>(out: &mut String, svcs: impl Iterator<Item = (&'a str, bool)>) {
    out.push_str("{");
    for (i, (id, on)) in svcs.enumerate() {
        if i > 0 {
            out.push_str(",");
        }
        push_key(out, id);
        out.push_str(if on { "true" } else { "false" });
    }
    out.push_str("}");
}

/// A choice as JSON: the body of `POST /v1/sites/{site}/consents` and,
/// with its dates, what `crumb.consent()` and the `crumb:change` event give
/// site code. Every string in it is a slug, a language tag or hex, so none
/// needs escaping.
pub struct RequestParts<'a> {
    pub consent_id: &'a str,
    pub revision: u32,
    pub language: &'a str,
    pub text_hash: &'a str,
    pub method: Method,
    /// When it was given and when it expires (ms), for site code; the
    /// server sets both itself.
    pub dates: Option<(u64, u64)>,
}

pub fn request_json<'a>(
    p: &RequestParts<'_>,
    choices: &Choices,
    categories: impl Iterator<Item = usize>,
    services: impl Iterator<Item = (&'a str, bool)>,
) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("{");
    if !p.consent_id.is_empty() {
        push_str_field(&mut s, "consent_id", p.consent_id);
    }
    push_key(&mut s, "revision");
    push_u64(&mut s, u64::from(p.revision));
    s.push_str(",");
    push_str_field(&mut s, "language", p.language);
    push_str_field(&mut s, "text_hash", p.text_hash);
    push_str_field(&mut s, "method", p.method.key());
    if let Some((given, expires)) = p.dates {
        push_key(&mut s, "given_at");
        push_u64(&mut s, given);
        s.push_str(",");
        push_key(&mut s, "expires_at");
        push_u64(&mut s, expires);
        s.push_str(",");
    }
    push_key(&mut s, "categories");
    push_categories(&mut s, choices.cats, categories);
    s.push_str(",");
    push_key(&mut s, "services");
    push_services(&mut s, services);
    s.push_str("}");
    s
}

/// Whether a cookie name matches a declared name: exact, or, for a
/// pattern (which ends in `*`), a prefix match up to the `*` (`_ga_*`,
/// `_pk_id.*`).
pub fn cookie_matches(declared: &str, name: &str) -> bool {
    // Byte-wise: `str`'s pattern matching would add its searcher.
    let (declared, name) = (declared.as_bytes(), name.as_bytes());
    match declared.split_last() {
        Some((b'*', prefix)) => name.starts_with(prefix),
        _ => declared == name,
    }
}

/// The domains a cookie may have been set on from `host`: the host itself
/// and each parent domain with at least two labels (`a.shop.example.com`
/// gives `a.shop.example.com`, `shop.example.com`, `example.com`).
pub fn cookie_domains(host: &str) -> impl Iterator<Item = &str> {
    let mut rest = host;
    core::iter::from_fn(move || {
        let (_, parent) = split_once(rest, b'.')?;
        Some(core::mem::replace(&mut rest, parent))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn stored() -> Stored {
        Stored {
            consent_id: "f308a03b-50bb-4cb0-91b3-f21e779e3794".into(),
            revision: 3,
            given_ms: 1_700_000_000_000,
            expires_ms: 1_763_000_000_000,
            method: Method::Custom,
            cats: 0b0101,
            services: "hotjar.google-analytics".into(),
            pending: 0,
        }
    }

    #[test]
    fn cookie_value_round_trips() {
        let s = stored();
        let text = s.encode();
        assert_eq!(
            text,
            "1~f308a03b-50bb-4cb0-91b3-f21e779e3794~3~1700000000000~1763000000000~c~5~hotjar.google-analytics~0"
        );
        assert_eq!(Stored::decode(&text), Some(s));
        let pending = Stored {
            consent_id: String::new(),
            pending: 3,
            services: String::new(),
            ..stored()
        };
        assert_eq!(Stored::decode(&pending.encode()), Some(pending));
    }

    #[test]
    fn garbage_cookies_are_ignored() {
        for bad in [
            "",
            "2~x~1~1~1~c~1~~0",
            "1~ID;~1~1~1~c~1~~0",
            "1~id~x~1~1~c~1~~0",
            "1~id~1~1~1~z~1~~0",
            "1~id~1~1~1~c~1~~0~extra",
            "1~id~1~1~1~c~999~~0",
            "1~id~1~1~1~c~1~hotjar..vwo~0",
            "1~id~1~1~1~c~1~Hotjar~0",
            "1~id~1~1~1~c~1~~x",
            "1~id~1~1~1~c~1~~256",
        ] {
            assert_eq!(Stored::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_the_cookie_the_server_writes() {
        // `crumb_schema::cookie::value` for a Global Privacy Control choice.
        let site: crumb_schema::SiteConfig =
            serde_json::from_str(include_str!("../../examples/demo-site.json")).unwrap();
        let mut choices = crumb_schema::Choices::necessary_only(&site);
        choices
            .categories
            .insert(crumb_schema::Category::Analytics, true);
        for s in ["hotjar", "google-analytics"] {
            choices
                .services
                .insert(crumb_schema::ServiceId::parse(s).unwrap(), true);
        }
        let text = crumb_schema::cookie::value(
            &crumb_schema::ConsentId::parse("f308a03b-50bb-4cb0-91b3-f21e779e3794").unwrap(),
            crumb_schema::PolicyRevision::parse(3).unwrap(),
            time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            time::OffsetDateTime::from_unix_timestamp(1_763_000_000).unwrap(),
            crumb_schema::Method::Gpc,
            &choices,
            &site,
        );
        let read = Stored::decode(&text).unwrap();
        // The services in the config's order, as the widget lists them.
        let gpc = Stored {
            method: Method::Gpc,
            services: "google-analytics.hotjar".into(),
            ..stored()
        };
        assert_eq!(read, gpc);
        assert!(read.same_choice(&gpc));
        assert!(!read.same_choice(&stored()));
    }

    #[test]
    fn unacknowledged_choices_are_resent_with_growing_pauses_then_given_up() {
        let at = |pending| Stored {
            pending,
            ..stored()
        };
        let t = stored().given_ms;
        assert!(!at(0).due(t), "a recorded choice is not sent");
        assert!(at(1).due(t), "a new choice is sent at once");
        assert!(!at(2).due(t + 29_999) && at(2).due(t + 30_000));
        assert!(!at(3).due(t + 89_999) && at(3).due(t + 90_000));
        assert!(at(GIVE_UP - 1).unsent() && !at(GIVE_UP).unsent());
        assert!(!at(GIVE_UP).due(u64::MAX));
    }

    #[test]
    fn request_json_is_what_the_server_expects() {
        let choices = Choices {
            cats: 0b0101,
            svcs: 0b01,
        };
        let parts = RequestParts {
            consent_id: "",
            revision: 2,
            language: "nl",
            text_hash: "ab",
            method: Method::Custom,
            dates: None,
        };
        assert_eq!(
            request_json(
                &parts,
                &choices,
                0..4,
                [("hotjar", true), ("vwo", false)].into_iter()
            ),
            r#"{"revision":2,"language":"nl","text_hash":"ab","method":"custom","categories":{"necessary":true,"functional":false,"analytics":true,"marketing":false},"services":{"hotjar":true,"vwo":false}}"#
        );
        // A site with two categories hears only of those.
        assert_eq!(
            request_json(
                &parts,
                &choices,
                [0, 2].into_iter(),
                [("hotjar", true)].into_iter()
            ),
            r#"{"revision":2,"language":"nl","text_hash":"ab","method":"custom","categories":{"necessary":true,"analytics":true},"services":{"hotjar":true}}"#
        );
    }

    #[test]
    fn numbers_format_and_parse() {
        let mut s = String::new();
        push_u64(&mut s, 0);
        s.push_str(" ");
        push_u64(&mut s, u64::MAX);
        assert_eq!(s, "0 18446744073709551615");
        assert_eq!(parse_u64("1763000000000"), Some(1_763_000_000_000));
        assert_eq!(parse_u64("12a"), None);
        assert_eq!(parse_u64(""), None);
    }

    #[test]
    fn dates_are_civil_utc() {
        for (ms, date) in [
            (0, "1970-01-01"),
            (951_782_400_000, "2000-02-29"),
            (1_795_478_399_999, "2026-11-23"),
            (1_795_478_400_000, "2026-11-24"),
            (4_107_542_400_000, "2100-03-01"),
        ] {
            let mut s = String::new();
            push_date(&mut s, ms);
            assert_eq!(s, date, "{ms}");
        }
    }

    #[test]
    fn byte_split_matches_std() {
        for s in ["", "a", "a~b", "~a~~b~", "~", "ü~é~"] {
            let ours: Vec<&str> = split(s, b'~').collect();
            let std: Vec<&str> = s.split('~').collect();
            assert_eq!(ours, std, "{s:?}");
            assert_eq!(split_once(s, b'~'), s.split_once('~'), "{s:?}");
        }
    }

    #[test]
    fn cookie_patterns() {
        assert!(cookie_matches("_ga", "_ga"));
        assert!(!cookie_matches("_ga", "_ga_ABC"));
        assert!(cookie_matches("_ga_*", "_ga_ABC123"));
        assert!(cookie_matches("_pk_id.*", "_pk_id.1.1fff"));
        assert!(!cookie_matches("_pk_id.*", "_pk_ses.1.1fff"));
    }

    #[test]
    fn parent_domains() {
        assert_eq!(
            cookie_domains("a.shop.example.com").collect::<Vec<_>>(),
            ["a.shop.example.com", "shop.example.com", "example.com"]
        );
        assert_eq!(cookie_domains("localhost").count(), 0);
    }
}
