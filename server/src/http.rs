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
    req.headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"))
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

/// Whether an `If-None-Match` value names `etag`.
pub fn etag_listed(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
}

/// Gzip at the best level: everything gzipped here is compressed once and
/// served many times.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).expect("writing to memory");
    e.finish().expect("writing to memory")
}
