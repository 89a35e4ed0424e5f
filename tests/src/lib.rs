//! Helpers for Crumb's end-to-end tests: [`Site`] runs the real server
//! (in-process, port 0, temp database, manual clock) with the demo pages and
//! the built widget; [`Browser`] drives a real headless Chromium through
//! ChromeDriver's WebDriver API.

pub mod axe;
pub mod browser;
pub mod npm;
pub mod site;
pub mod trap;

pub use browser::{Browser, Engine};
pub use site::{Site, never_answers, serve};

/// How long a test waits for something the page or the server does in the
/// background (`Browser::wait`, `Browser::wait_for_request`,
/// `Site::wait_for_records`). Generous: an engine's first page on a
/// machine whose two cores are busy (WebKitGTK's cold start beside another
/// browser) has taken more than 10 s to show the banner, and a passing wait
/// returns as soon as its condition holds.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Vendor hosts of the demo's snippets. Chromium resolves them to a closed
/// local port, so nothing leaves the machine and every attempt to contact a
/// vendor shows up in the network log as a refused request; Firefox and
/// WebKitGTK send them to [`trap`], which notes them.
pub const VENDOR_HOSTS: &[&str] = &[
    "googletagmanager.com",
    "hotjar.com",
    "piwik.pro",
    "visualwebsiteoptimizer.com",
    "facebook.net",
    "redditstatic.com",
    "youtube.com",
];
