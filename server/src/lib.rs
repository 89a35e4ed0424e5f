//! The Crumb consent server: the HTTP API the widget and site backends
//! talk to, the consent log on embedded SQLite, and the pieces the `crumb`
//! command line is built from.

pub mod auth;
pub mod cli;
pub mod client;
pub mod clock;
pub mod cors;
pub mod csp;
pub mod demo;
pub mod error;
pub mod export;
pub mod http;
pub mod lifecycle;
pub mod limits;
pub mod lint;
pub mod metrics;
pub mod openapi;
pub mod page_lint;
pub mod quota;
pub mod record;
pub mod routes;
pub mod seed;
pub mod settings;
pub mod signing;
pub mod sites;
pub mod startup;
pub mod stats;
pub mod storage;
pub mod telemetry;
pub mod timefmt;
pub mod verify;
pub mod widget;
