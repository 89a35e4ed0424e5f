//! The owner's statistics page (`/owner`): static HTML, CSS and JS compiled
//! into the binary. The page holds no data; it asks the stats API with the
//! token the owner types in.

use actix_web::HttpResponse;

fn page(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "no-cache"))
        // The page has a token form: no other site may frame it
        // (clickjacking) or learn its address from a referrer.
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; \
             frame-ancestors 'none'",
        ))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body)
}

pub async fn html() -> HttpResponse {
    page(
        "text/html; charset=utf-8",
        include_str!("../../assets/owner.html"),
    )
}

pub async fn js() -> HttpResponse {
    page(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/owner.js"),
    )
}

pub async fn css() -> HttpResponse {
    page(
        "text/css; charset=utf-8",
        include_str!("../../assets/owner.css"),
    )
}
