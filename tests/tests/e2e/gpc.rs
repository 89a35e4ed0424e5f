//! Global Privacy Control: in a browser that sends it (`Sec-GPC: 1` and
//! `navigator.globalPrivacyControl`; see `Browser::with_gpc`), the
//! site's sale or sharing categories (marketing, by default) start
//! refused, the banner and the dialog say the signal is honoured, a choice
//! that leaves them refused is recorded as `gpc` with the request's GPC
//! flag, and an explicit opt-in is recorded as what it is.

use crumb_e2e::{Browser, Site};
use serde_json::json;

use crate::{open, ran};

const NOTICE: &str = "Global Privacy Control";

fn notice(browser: &Browser, within: &str) -> String {
    browser
        .js(&format!(
            "const p = document.querySelector('{within} .crumb-gpc'); return p ? p.textContent : '';"
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_save_that_keeps_marketing_off_is_recorded_as_gpc_with_the_flag() {
    // Arrange
    let site = Site::start();
    let browser = Browser::with_gpc(1280, 800);
    open(&site, &browser, "/");

    // Assert: the banner says the signal is honoured.
    assert!(notice(&browser, ".crumb-banner").contains(NOTICE));

    // Act and assert
    a_save_keeping_marketing_off_is_recorded_as_gpc(&site, &browser);
    browser.settled();
    assert_eq!(ran(&browser)["meta"], false);
}

/// On a first visit under GPC: the visitor opens the dialog, which says
/// the signal is honoured and where marketing starts refused, allows
/// analytics, and saves; the choice is recorded as `gpc`, with the
/// request's GPC flag, marketing refused.
pub(crate) fn a_save_keeping_marketing_off_is_recorded_as_gpc(site: &Site, browser: &Browser) {
    browser.click(".crumb-banner [data-a=customize]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    assert!(notice(browser, "dialog").contains(NOTICE));
    let marketing =
        browser.js("return document.querySelector('input[data-cat=marketing]').checked");
    assert_eq!(marketing, json!(false), "marketing starts refused");
    browser.click("input[data-cat=analytics]");
    browser.click("dialog [data-a=save]");

    let record = &site.wait_for_records(1)[0];
    assert_eq!(record["method"], "gpc", "{record}");
    assert_eq!(record["gpc"], true, "{record}");
    assert_eq!(
        record["categories_granted"],
        json!(["necessary", "analytics"]),
        "{record}"
    );
}

#[test]
fn accept_all_under_gpc_is_an_explicit_opt_in() {
    // Arrange
    let site = Site::start();
    let browser = Browser::with_gpc(1280, 800);
    open(&site, &browser, "/");

    // Act
    browser.click(".crumb-banner [data-a=accept]");

    // Assert
    let record = &site.wait_for_records(1)[0];
    assert_eq!(record["method"], "accept_all", "{record}");
    assert_eq!(record["gpc"], true, "{record}");
    assert_eq!(record["categories_denied"], json!([]), "{record}");
}

#[test]
fn without_the_signal_there_is_no_notice_and_no_flag() {
    // Arrange
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    open(&site, &browser, "/");

    // Act
    let shown = notice(&browser, ".crumb-banner");
    browser.click(".crumb-banner [data-a=reject]");

    // Assert
    assert_eq!(shown, "");
    let record = &site.wait_for_records(1)[0];
    assert_eq!(record["method"], "reject_all", "{record}");
    assert!(record.get("gpc").is_none(), "{record}");
}
