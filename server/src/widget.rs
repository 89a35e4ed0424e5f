//! Serves the widget: `/crumb.js` (the loader, short-lived cache because
//! its URL is fixed in every site's embed code) and `/crumb/{name}` (the
//! content-hashed wasm and CSS, cached forever, and the cookie
//! declaration's `crumb-declaration.js` and `.css`, cached briefly). Files come from the
//! widget build (`cargo xtask build-widget` writes `widget/dist/`) and are
//! held in memory with their gzip (the build's own `.gz` files, else
//! gzipped once at start).

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::http::{etag_matches, gzip, takes_gzip};
use crate::record::sha256_hex;
use crate::routes::error::not_found;

struct Asset {
    raw: Vec<u8>,
    gzip: Vec<u8>,
    etag: String,
    content_type: &'static str,
    cache_control: &'static str,
}

/// The built widget, or nothing when it was not built.
#[derive(Default)]
pub struct WidgetAssets {
    files: HashMap<String, Asset>,
}

impl std::fmt::Debug for WidgetAssets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.files.keys()).finish()
    }
}

/// The build's own gzip of `path` (`<path>.gz`, compressed harder than
/// the server would at start), if it is there and holds exactly `raw`; a
/// stale or damaged file is ignored.
fn precompressed(path: &Path, raw: &[u8]) -> Option<Vec<u8>> {
    let mut gz_path = path.as_os_str().to_owned();
    gz_path.push(".gz");
    let packed = std::fs::read(gz_path).ok()?;
    let mut unpacked = Vec::with_capacity(raw.len());
    flate2::read::GzDecoder::new(packed.as_slice())
        .read_to_end(&mut unpacked)
        .ok()?;
    (unpacked == raw).then_some(packed)
}

impl WidgetAssets {
    /// Loads `crumb.js` and the hashed `crumb-*.wasm` / `crumb-*.css` from
    /// `dir`.
    pub fn load(dir: &Path) -> std::io::Result<Self> {
        let mut files = HashMap::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            // Files at fixed URLs (the loader, the declaration's renderer
            // and stylesheet) are cached briefly; content-hashed ones for
            // good.
            const SHORT: &str = "public, max-age=300, stale-while-revalidate=86400";
            const FOREVER: &str = "public, max-age=31536000, immutable";
            let fixed = matches!(
                name.as_str(),
                "crumb.js" | "crumb-declaration.js" | "crumb-declaration.css"
            );
            let cache_control = if fixed { SHORT } else { FOREVER };
            let content_type = match path.extension().and_then(|e| e.to_str()) {
                Some("js") if fixed => "text/javascript; charset=utf-8",
                Some("wasm") => "application/wasm",
                Some("css") => "text/css; charset=utf-8",
                _ => continue,
            };
            let raw = std::fs::read(&path)?;
            let packed = precompressed(&path, &raw).unwrap_or_else(|| gzip(&raw));
            files.insert(
                name,
                Asset {
                    gzip: packed,
                    etag: format!("\"{}\"", &sha256_hex(&raw)[..32]),
                    raw,
                    content_type,
                    cache_control,
                },
            );
        }
        if !files.contains_key("crumb.js") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "{} has no crumb.js; run `cargo xtask build-widget`",
                    dir.display()
                ),
            ));
        }
        Ok(Self { files })
    }

    fn respond(&self, req: &HttpRequest, name: &str) -> Option<HttpResponse> {
        let asset = self.files.get(name)?;
        let mut resp = if etag_matches(req, &asset.etag) {
            HttpResponse::NotModified().finish()
        } else {
            let gzip_ok = takes_gzip(req);
            let mut b = HttpResponse::Ok();
            b.content_type(asset.content_type);
            if gzip_ok {
                b.insert_header((header::CONTENT_ENCODING, "gzip"));
                b.body(asset.gzip.clone())
            } else {
                b.body(asset.raw.clone())
            }
        };
        let h = resp.headers_mut();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(asset.cache_control),
        );
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        h.insert(
            header::ETAG,
            HeaderValue::from_str(&asset.etag).expect("hex"),
        );
        crate::http::embeddable(h);
        Some(resp)
    }
}

pub async fn loader(req: HttpRequest, assets: web::Data<WidgetAssets>) -> HttpResponse {
    match assets.respond(&req, "crumb.js") {
        Some(r) => r,
        None => not_found(req).await,
    }
}

pub async fn file(
    req: HttpRequest,
    assets: web::Data<WidgetAssets>,
    name: web::Path<String>,
) -> HttpResponse {
    if name.as_str() == "crumb.js" {
        return not_found(req).await;
    }
    match assets.respond(&req, &name) {
        Some(r) => r,
        None => not_found(req).await,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip_fast(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn the_builds_gzip_is_served_only_when_it_matches() {
        // Arrange: crumb.js with its own .gz; the CSS with a stale one.
        let dir = tempfile::tempdir().unwrap();
        let js = b"console.log('crumb');".repeat(20);
        let packed = gzip_fast(&js);
        assert_ne!(packed, gzip(&js), "the test needs a distinguishable gzip");
        std::fs::write(dir.path().join("crumb.js"), &js).unwrap();
        std::fs::write(dir.path().join("crumb.js.gz"), &packed).unwrap();
        let css = b".crumb{color:red}";
        std::fs::write(dir.path().join("crumb-1.css"), css).unwrap();
        std::fs::write(dir.path().join("crumb-1.css.gz"), gzip(b".old{}")).unwrap();

        // Act
        let assets = WidgetAssets::load(dir.path()).unwrap();

        // Assert: the .gz files are not assets of their own.
        let mut names: Vec<_> = assets.files.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["crumb-1.css", "crumb.js"]);
        assert_eq!(assets.files["crumb.js"].gzip, packed);
        assert_eq!(assets.files["crumb-1.css"].gzip, gzip(css));
    }
}
