//! HTTP details shared by the routes: gzip at level 9 for clients that
//! take it, conditional requests answered from an ETag (the widget, the
//! site config, static pages), the Global Privacy Control header, and the
//! headers that let other origins' pages embed Crumb's scripts.

use std::io::Write as _;

use actix_web::HttpRequest;
use actix_web::http::header;

/// Whether the body is JSON by its `Content-Type`, judged as actix's JSON
/// extractor judges the public API's bodies: `application/json` or a
/// `+json` type, in any letter case, with any parameters. The admin API's
/// config bodies are read by hand and use this, so both APIs take the
/// same headers.
pub fn sends_json(req: &HttpRequest) -> bool {
    use actix_web::HttpMessage as _;
    use actix_web::mime::{APPLICATION, JSON};
    req.mime_type().ok().flatten().is_some_and(|m| {
        m.type_() == APPLICATION && (m.subtype() == JSON || m.suffix() == Some(JSON))
    })
}

/// Marks a public file that pages on other origins load (the widget's
/// files, `signals.js`) as theirs to embed: `Access-Control-Allow-Origin:
/// *` for what they fetch with CORS (the wasm, a script tag with
/// `crossorigin`), and `Cross-Origin-Resource-Policy: cross-origin` for
/// what they load without (a plain script tag, the stylesheets), which a
/// cross-origin isolated page (`Cross-Origin-Embedder-Policy:
/// require-corp`, as pages that use `SharedArrayBuffer` must send) blocks
/// otherwise.
pub fn embeddable(headers: &mut header::HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    headers.insert(
        header::CROSS_ORIGIN_RESOURCE_POLICY,
        header::HeaderValue::from_static("cross-origin"),
    );
}

/// Whether the client accepts gzip.
pub fn takes_gzip(req: &HttpRequest) -> bool {
    accepts_gzip(
        req.headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Whether an `Accept-Encoding` value accepts gzip (RFC 9110, 12.5.3):
/// `gzip` (or its old name `x-gzip`) named with a weight above zero, or
/// else `*` so. `gzip;q=0` refuses it, whatever `*` says; a weight that
/// is not a number counts as none given.
fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(value) = accept_encoding else {
        return false;
    };
    let (mut gzip, mut any) = (None, None);
    for entry in value.split(',') {
        let mut parts = entry.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let weight = parts
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, q)| q.trim().parse::<f32>().unwrap_or(1.0));
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(weight > 0.0);
        } else if coding == "*" {
            any = Some(weight > 0.0);
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// Whether the browser sends Global Privacy Control (`Sec-GPC: 1`).
pub fn sends_gpc(req: &HttpRequest) -> bool {
    req.headers()
        .get("sec-gpc")
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"1")
}

/// Whether the client's `If-None-Match` names `etag` (a 304 will do).
pub fn etag_matches(req: &HttpRequest, etag: &str) -> bool {
    etag_listed(if_none_match(req).as_deref(), etag)
}

/// The client's `If-None-Match`, to check later off the request (which
/// cannot leave its worker thread).
pub fn if_none_match(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Whether an `If-None-Match` value names `etag`, compared as RFC 9110
/// (13.1.2) has it: weakly, so `W/"x"` (an ETag a proxy that compressed
/// the answer itself made weak) names `"x"`; `*` names any.
pub fn etag_listed(if_none_match: Option<&str>, etag: &str) -> bool {
    fn opaque(tag: &str) -> &str {
        let tag = tag.trim();
        tag.strip_prefix("W/").unwrap_or(tag)
    }
    let etag = opaque(etag);
    if_none_match.is_some_and(|v| v.trim() == "*" || v.split(',').any(|t| opaque(t) == etag))
}

/// Gzip at the best level: everything gzipped here is compressed once and
/// served many times.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).expect("writing to memory");
    e.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::{accepts_gzip, etag_listed};

    #[test]
    fn gzip_is_taken_only_where_the_client_accepts_it() {
        for (header, gzip) in [
            (None, false),
            (Some(""), false),
            (Some("gzip"), true),
            (Some("gzip, deflate, br, zstd"), true),
            (Some("br;q=1.0, GZIP;q=0.5"), true),
            (Some("x-gzip"), true),
            (Some("*"), true),
            (Some("br, *;q=0.1"), true),
            (Some("gzip;q=0"), false),
            (Some("gzip; q=0.000, *"), false),
            (Some("*;q=0"), false),
            (Some("identity"), false),
            (Some("br, deflate"), false),
            (Some("gzipx, notgzip"), false),
        ] {
            assert_eq!(accepts_gzip(header), gzip, "{header:?}");
        }
    }

    #[test]
    fn if_none_match_compares_weakly_and_star_matches_any() {
        let etag = "\"abc\"";
        for (header, listed) in [
            (None, false),
            (Some("\"abc\""), true),
            (Some("W/\"abc\""), true),
            (Some("\"x\", W/\"abc\""), true),
            (Some(" * "), true),
            (Some("\"abcd\""), false),
            (Some("abc"), false),
            (Some(""), false),
        ] {
            assert_eq!(etag_listed(header, etag), listed, "{header:?}");
        }
    }
}
