//! Which language the banner speaks: the page's `<html lang>`, then the
//! browser's language, then English, then the site's first language.

use alloc::string::String;

/// The index in `available` of the best language for the `wanted` tags,
/// tried in order: an exact (case-insensitive) match first, then the same
/// primary language (`nl-BE` → `nl`).
pub fn pick(wanted: &[&str], available: &[String]) -> usize {
    let primary = |t: &str| -> String {
        let p = t.split('-').next().unwrap_or(t);
        p.to_ascii_lowercase()
    };
    for w in wanted.iter().filter(|w| !w.is_empty()) {
        if let Some(i) = available.iter().position(|a| a.eq_ignore_ascii_case(w)) {
            return i;
        }
        let wp = primary(w);
        if let Some(i) = available.iter().position(|a| primary(a) == wp) {
            return i;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn langs(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| String::from(*s)).collect()
    }

    #[test]
    fn page_language_wins_then_browser_then_english() {
        let a = langs(&["nl", "en", "de", "fr"]);
        assert_eq!(pick(&["de", "fr", "en"], &a), 2);
        assert_eq!(pick(&["", "fr-CA", "en"], &a), 3);
        assert_eq!(pick(&["sv", "ja", "en"], &a), 1);
        assert_eq!(pick(&["sv", "ja", "en"], &langs(&["nl"])), 0);
        assert_eq!(pick(&["EN-gb"], &a), 1);
    }
}
