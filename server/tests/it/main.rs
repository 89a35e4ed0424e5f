//! The server's integration tests: one binary, one module per area.

mod admin;
mod assets;
mod audit;
mod bad_input;
mod config;
mod consents;
mod cors;
mod faults;
mod hardening;
mod helpers;
mod metrics;
mod nodes;
mod openapi;
mod postgres;
mod restart;
