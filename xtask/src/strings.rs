//! Blanks the widget's dead text: panic messages and source paths that
//! std, alloc and wasm-bindgen leave in the wasm's data segment.
//!
//! The code that would print them is gone (the widget's panic handler
//! aborts without reading its message, and `wasm-opt` removes the
//! formatting machinery), but the bytes stay: `wasm-opt` cannot tell which
//! parts of a data segment are still read, so it keeps all of it. Those
//! strings are read only to format a panic message, which never happens,
//! so they are overwritten with zeros, in place (no offset moves); with
//! `--zero-filled-memory` wasm-opt then drops the zero runs from the
//! segment. Text the widget itself uses is never in this list. The e2e
//! tests run the blanked build.

/// Messages of std, alloc and wasm-bindgen that only a panic would print.
const MESSAGES: &[&[u8]] = &[
    b"closure invoked recursively or after being dropped",
    b"Tried to shrink to a larger capacity",
    b"memory allocation of ",
    b" bytes failed",
    b"capacity overflow",
    b"RefCell already mutably borrowed",
    b"RefCell already borrowed",
];

/// Source paths of panic locations: from each marker to the next `.rs`.
const PATH_MARKERS: &[&[u8]] = &[b"/rustc/", b"/.cargo/registry/"];

fn zero(wasm: &mut [u8], from: usize, to: usize) -> usize {
    wasm[from..to].fill(0);
    to - from
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The two-digit table of core's integer formatting ("000102...99").
fn digit_table() -> Vec<u8> {
    (0..100)
        .flat_map(|i: u8| [b'0' + i / 10, b'0' + i % 10])
        .collect()
}

/// Zeroes every dead string in `wasm`; returns how many bytes.
pub fn blank(wasm: &mut [u8]) -> usize {
    let mut n = 0;
    let table = digit_table();
    for m in MESSAGES.iter().copied().chain([table.as_slice()]) {
        let mut at = 0;
        while let Some(i) = find(wasm, m, at) {
            n += zero(wasm, i, i + m.len());
            at = i + m.len();
        }
    }
    for marker in PATH_MARKERS {
        let mut at = 0;
        while let Some(i) = find(wasm, marker, at) {
            let Some(end) = find(wasm, b".rs", i).filter(|e| e - i < 300) else {
                break;
            };
            n += zero(wasm, i, end + 3);
            at = end + 3;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_text_is_zeroed_in_place_and_live_text_kept() {
        let mut data = b"necessaryfunctional/rustc/abc/library/alloc/src/alloc.rscapacity overflow/root/.cargo/registry/src/x/y.rsmarketing"
            .to_vec();
        let len = data.len();
        let n = blank(&mut data);
        assert_eq!(data.len(), len);
        let text: String = data
            .iter()
            .map(|&b| if b == 0 { '_' } else { char::from(b) })
            .collect();
        // The widget's own words around the dead text are kept; only the
        // home folder in front of a registry path survives.
        assert!(text.starts_with("necessaryfunctional_"), "{text}");
        assert!(
            text.ends_with("_/root___________________________marketing"),
            "{text}"
        );
        assert!(!text.contains("capacity") && !text.contains("rustc") && !text.contains("cargo"));
        assert_eq!(
            n,
            len - "necessaryfunctional".len() - "/root".len() - "marketing".len()
        );
    }
}
