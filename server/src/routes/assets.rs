//! Static files: the demo site (and, later, anything else an operator puts
//! in `static_dir`). Anything that is not an API route lands here. Paths
//! are resolved strictly inside the folder: no `..`, no hidden files.
//! Text is sent gzipped to clients that accept it; every file carries an
//! ETag, so revalidation (`no-cache`) of an unchanged file is a 304.

use std::path::{Path, PathBuf};

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::error::not_found;
use crate::error::respond;
use crate::http::{etag_listed, if_none_match, takes_gzip};

/// The folder served at `/`, if any.
#[derive(Debug, Clone)]
pub struct StaticDir(pub Option<PathBuf>);

/// Types worth compressing.
fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("image/svg")
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("wasm") => "application/wasm",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Maps a URL path to a file under `root`, refusing anything that could
/// step outside it.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let mut out = root.to_owned();
    for seg in url_path.split('/').filter(|s| !s.is_empty()) {
        if seg.starts_with('.') || seg.contains('\\') || seg.contains('\0') {
            return None;
        }
        out.push(seg);
    }
    if url_path.ends_with('/') || out == root {
        out.push("index.html");
    }
    Some(out)
}

pub async fn fallback(req: HttpRequest, dir: web::Data<StaticDir>) -> HttpResponse {
    let root = match &dir.0 {
        Some(root) if !req.path().starts_with("/v1/") => root.clone(),
        _ => return not_found(req).await,
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut refused = respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "static files are read-only; allowed: GET, HEAD",
        );
        refused.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static("GET, HEAD"),
        );
        return refused;
    }
    let Some(path) = resolve(&root, req.path()) else {
        return not_found(req).await;
    };
    let kind = content_type(&path);
    // Text goes out gzipped (level 9, like the widget) when the client
    // takes it: pages are measured as served.
    let gzip = compressible(kind) && takes_gzip(&req);
    // Browsers revalidate (`no-cache`); an unchanged file costs a 304.
    let if_none_match = if_none_match(&req);
    let read_path = path.clone();
    let read = web::block(move || {
        let bytes = std::fs::read(read_path)?;
        // The gzipped representation gets its own tag, as HTTP asks of
        // different encodings of one resource.
        let hash = crate::record::sha256_hex(&bytes);
        let etag = format!("\"{}{}\"", &hash[..32], if gzip { "-gz" } else { "" });
        if etag_listed(if_none_match.as_deref(), &etag) {
            return Ok::<_, std::io::Error>((etag, None));
        }
        Ok((
            etag,
            Some(if gzip {
                crate::http::gzip(&bytes)
            } else {
                bytes
            }),
        ))
    });
    match read.await {
        Ok(Ok((etag, body))) => {
            let mut resp = match body {
                Some(_) => HttpResponse::Ok(),
                None => HttpResponse::NotModified(),
            };
            resp.content_type(kind)
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .insert_header((header::ETAG, etag))
                .insert_header((header::VARY, "Accept-Encoding"));
            match body {
                Some(bytes) if gzip => resp
                    .insert_header((header::CONTENT_ENCODING, "gzip"))
                    .body(bytes),
                Some(bytes) => resp.body(bytes),
                None => resp.finish(),
            }
        }
        _ => not_found(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/srv/site");
        assert_eq!(
            resolve(root, "/"),
            Some(PathBuf::from("/srv/site/index.html"))
        );
        assert_eq!(
            resolve(root, "/a/b.css"),
            Some(PathBuf::from("/srv/site/a/b.css"))
        );
        assert_eq!(
            resolve(root, "/docs/"),
            Some(PathBuf::from("/srv/site/docs/index.html"))
        );
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/.git/config"), None);
    }
}
