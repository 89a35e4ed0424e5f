//! Crumb's shared vocabulary: the wire and domain types that the server and
//! the widget both speak, and the consent rules both sides must agree on
//! (when a consent expires, when it is still valid).
//!
//! Everything here is pure: no I/O, no clock, no randomness, so the crate
//! builds for `wasm32-unknown-unknown` and every rule is unit-testable.
//! Types that cross a trust boundary are newtypes whose only constructor is
//! `parse` (serde goes through it too), so code past the edge holds only
//! values that are known to be well formed.

mod category;
mod config;
mod consent;
pub mod cookie;
mod ids;
pub mod instant;
pub mod integrations;
pub mod rules;
pub mod widget;
pub mod words;

pub use category::Category;
pub use config::{
    BannerTexts, CategoryConfig, CategoryTexts, CookieConfig, Duration, Localized, MAX_SERVICES,
    Party, Retention, ServiceConfig, SessionOnly, SiteConfig, Text, ValidityMonths,
};
pub use consent::{
    ChoiceError, Choices, ConsentRequest, ConsentState, ConsentStatus, Event, Method, Receipt,
};
pub use ids::{
    ConsentId, CookiePrefix, IdError, LanguageTag, PolicyRevision, RecordHash, RecordId, ServiceId,
    SiteId, TextHash, TextVersion, is_sha256_hex,
};
