//! Limits that keep one client from holding the server: a deadline for a
//! request's body, so a request that declares a body and never sends it
//! is answered (408) and its connection closed instead of being held open
//! forever. (actix-web's own `client_request_timeout` covers only the
//! request head.) The same middleware refuses compressed bodies (415):
//! the server reads a body as it is sent, and would otherwise read a
//! gzipped one as broken JSON or text that is not UTF-8.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::rt::time::{Sleep, sleep};
use actix_web::web::{self, Bytes};
use futures_core::Stream;

/// How long a client has for a request's whole body.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

/// A request body that fails with a timeout once its deadline passes.
struct Deadline {
    inner: Payload,
    expired: Pin<Box<Sleep>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let ready @ Poll::Ready(_) = Pin::new(&mut this.inner).poll_next(cx) {
            return ready;
        }
        match this.expired.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Middleware: gives every request's body the app's [`BodyDeadline`], and
/// makes a body sent with a content coding fail to read as
/// [`unsupported_encoding`]. (Failing the read, rather than answering
/// here, lets the route answer in its own error shape, with the site's
/// CORS headers on the public API.)
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // Only requests that declare a body get the timer (GETs, the bulk of
    // the traffic, have none to wait for).
    let has_body = req.headers().contains_key(header::CONTENT_LENGTH)
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    // Bodies here are at most 16 KiB of JSON (a site config 256 KiB):
    // nothing gains from compressing them, so no coding is decoded.
    let encoded = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if has_body && encoded {
        let refused = std::io::Error::new(std::io::ErrorKind::Unsupported, "content coding");
        let body: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
            Box::pin(futures_util::stream::iter([Err(PayloadError::Io(refused))]));
        req.set_payload(Payload::from(body));
        return next.call(req).await;
    }
    let limit = req.app_data::<web::Data<BodyDeadline>>().map(|d| d.0);
    if let Some(limit) = limit.filter(|_| has_body) {
        let inner = req.take_payload();
        let timed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(Deadline {
            inner,
            expired: Box::pin(sleep(limit)),
        });
        req.set_payload(Payload::from(timed));
    }
    next.call(req).await
}

/// Whether a body error is the deadline passing.
pub fn timed_out(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

/// Whether a body error is a body sent with a content coding.
pub fn unsupported_encoding(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::Unsupported)
}

/// [`timed_out`] for a body error as actix-web's own `Error`.
pub fn timed_out_error(e: &actix_web::Error) -> bool {
    e.as_error::<PayloadError>().is_some_and(timed_out)
}

/// [`unsupported_encoding`] for a body error as actix-web's own `Error`.
pub fn unsupported_encoding_error(e: &actix_web::Error) -> bool {
    e.as_error::<PayloadError>()
        .is_some_and(unsupported_encoding)
}
