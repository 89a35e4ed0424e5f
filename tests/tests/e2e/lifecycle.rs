//! Time and policy: expiry after two years, revision bumps, withdrawal.

use crumb_e2e::{Browser, Site};
use serde_json::json;
use time::Duration;

use crate::server_decides::shift_page_clock;
use crate::{accept_all, banner_visible, open};

#[test]
fn two_years_later_the_banner_is_back() {
    // Arrange
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    let first = accept_all(&site, &browser);
    open(&site, &browser, "/");
    assert!(!banner_visible(&browser));

    // Act: the server and the page both live two years and a day later.
    let later = Duration::days(731);
    site.clock.advance(later);
    shift_page_clock(&site, later);
    open(&site, &browser, "/");

    // Assert
    assert!(banner_visible(&browser));
    assert_eq!(
        crate::ran(&browser)["ga"],
        false,
        "an expired consent allows nothing"
    );
    // Choosing again continues the same consent's history.
    browser.click(".crumb-banner [data-a=reject]");
    let records = site.wait_for_records(2);
    assert_eq!(records[1]["consent_id"], first["consent_id"]);
    assert_eq!(records[1]["event"], "updated");
    assert_eq!(records[1]["method"], "reject_all");
}

#[test]
fn revision_bump_asks_again() {
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    accept_all(&site, &browser);

    site.bump_revision();
    open(&site, &browser, "/");

    assert!(banner_visible(&browser));
    browser.click(".crumb-banner [data-a=accept]");
    let records = site.wait_for_records(2);
    assert_eq!(records[1]["policy_revision"], 2);
    assert_eq!(records[1]["event"], "updated");
}

#[test]
fn withdrawing_marketing_deletes_its_cookies_and_is_recorded() {
    // Arrange: everything allowed, and the cookies Meta and Google set.
    let site = Site::start();
    let browser = Browser::new(1280, 800);
    let first = accept_all(&site, &browser);
    browser.js(
        "document.cookie = '_fbp=fb.1.1700000000000.1234567890; path=/; max-age=7776000';
         document.cookie = '_ga=GA1.1.1234567890.1700000000; path=/; max-age=63072000';",
    );
    assert!(browser.cookie_names().contains(&"_fbp".to_owned()));

    // Act: reopen from the page's "Cookie settings" link, switch marketing off.
    browser.click("footer [data-crumb-open]");
    browser.wait("document.querySelector('dialog.crumb-modal[open]')");
    // The visitor can see their consent id and its date (their own proof).
    let meta = browser.js("return document.querySelector('.crumb-meta').textContent");
    let meta = meta.as_str().unwrap();
    assert!(
        meta.contains(first["consent_id"].as_str().unwrap()),
        "{meta}"
    );
    let given_day = &first["event_time"].as_str().unwrap()[..10];
    assert!(
        meta.ends_with(given_day),
        "{meta} should end with {given_day}"
    );
    browser.click("input[data-cat=marketing]");
    assert_eq!(
        browser.js("return document.querySelector('input[data-svc=meta-pixel]').checked"),
        json!(false)
    );
    browser.click("dialog [data-a=save]");
    let records = site.wait_for_records(2);
    browser.settled();

    // Assert
    let cookies = browser.cookie_names();
    assert!(!cookies.contains(&"_fbp".to_owned()), "{cookies:?}");
    assert!(
        cookies.contains(&"_ga".to_owned()),
        "analytics stays allowed: {cookies:?}"
    );
    let r = &records[1];
    assert_eq!(r["consent_id"], first["consent_id"]);
    assert_eq!(r["event"], "updated");
    assert_eq!(r["categories_denied"], json!(["marketing"]));
    assert!(
        r["services_denied"]
            .as_array()
            .unwrap()
            .contains(&json!("meta-pixel"))
    );
}
