//! Shortens the wasm module's import and internal export names.
//! wasm-bindgen names every import `__wbg_<js name>_<16 hex digits>` in
//! module `./crumb_widget_bg.js`; those names appear twice on the wire (in
//! the wasm's import section and as keys of the glue's import object), and
//! the hex digits hardly compress. They become `a`, `b`, ... in module `a`,
//! in both files. Exports only the glue uses (`__wbindgen_malloc`, closure
//! invokers, ...) become `$a`, `$b`, ...; `memory` and the widget's own API
//! keep their names. Before wasm-opt, exports the glue never reads are
//! dropped ([`drop_unread_exports`]), so the code only they kept goes too.

use anyhow::{Context as _, bail};

const MODULE: &str = "./crumb_widget_bg.js";
/// Exports that keep their names: the memory and the widget's API, which
/// crumb.js calls by name (`widget/src/api.rs`).
const KEEP: &[&str] = &["memory", "start", "text", "on", "answer"];

fn read_leb(bytes: &[u8], pos: &mut usize) -> anyhow::Result<u64> {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = *bytes.get(*pos).context("truncated LEB128")?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 63 {
            bail!("LEB128 too long");
        }
    }
}

fn write_leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_name<'a>(bytes: &'a [u8], pos: &mut usize) -> anyhow::Result<&'a str> {
    let len = read_leb(bytes, pos)? as usize;
    let name = bytes.get(*pos..*pos + len).context("truncated name")?;
    *pos += len;
    Ok(std::str::from_utf8(name)?)
}

fn write_name(out: &mut Vec<u8>, name: &str) {
    write_leb(out, name.len() as u64);
    out.extend_from_slice(name.as_bytes());
}

/// Skips an import's description (what kind of thing is imported).
fn skip_desc(bytes: &[u8], pos: &mut usize) -> anyhow::Result<()> {
    let kind = *bytes.get(*pos).context("truncated import")?;
    *pos += 1;
    let limits = |pos: &mut usize| -> anyhow::Result<()> {
        let flags = *bytes.get(*pos).context("truncated limits")?;
        *pos += 1;
        read_leb(bytes, pos)?;
        if flags & 1 != 0 {
            read_leb(bytes, pos)?;
        }
        Ok(())
    };
    match kind {
        0 => {
            read_leb(bytes, pos)?;
        }
        1 => {
            *pos += 1; // reference type
            limits(pos)?;
        }
        2 => limits(pos)?,
        3 => *pos += 2, // value type, mutability
        4 => {
            *pos += 1; // attribute
            read_leb(bytes, pos)?;
        }
        other => bail!("unknown import kind {other}"),
    }
    Ok(())
}

/// `a`..`z`, `A`..`Z`, then two letters, and so on.
fn short_name(mut i: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut name = Vec::new();
    loop {
        name.push(LETTERS[i % LETTERS.len()]);
        i /= LETTERS.len();
        if i == 0 {
            break;
        }
        i -= 1;
    }
    String::from_utf8(name).expect("ASCII")
}

/// Returns the wasm with short import names and the glue rewritten to match.
pub fn shorten(wasm: &[u8], glue: &str) -> anyhow::Result<(Vec<u8>, String)> {
    let mut renames = Vec::new();
    let out = rewrite_section(wasm, 7, |body| {
        let mut p = 0;
        let count = read_leb(body, &mut p)?;
        let mut section = Vec::new();
        write_leb(&mut section, count);
        let mut exports = 0;
        for _ in 0..count {
            let name = read_name(body, &mut p)?;
            let desc_start = p;
            p += 1; // kind
            read_leb(body, &mut p)?;
            if KEEP.contains(&name) {
                write_name(&mut section, name);
            } else {
                let short = format!("${}", short_name(exports));
                exports += 1;
                write_name(&mut section, &short);
                renames.push((name.to_owned(), short));
            }
            section.extend_from_slice(&body[desc_start..p]);
        }
        Ok(section)
    })?;
    let out = rewrite_section(&out, 2, |body| {
        let mut p = 0;
        let count = read_leb(body, &mut p)?;
        let mut section = Vec::new();
        write_leb(&mut section, count);
        let mut imports = 0;
        for _ in 0..count {
            let module = read_name(body, &mut p)?;
            let name = read_name(body, &mut p)?;
            let desc_start = p;
            skip_desc(body, &mut p)?;
            if module == MODULE {
                let short = short_name(imports);
                imports += 1;
                write_name(&mut section, "a");
                write_name(&mut section, &short);
                renames.push((name.to_owned(), short));
            } else {
                write_name(&mut section, module);
                write_name(&mut section, name);
            }
            section.extend_from_slice(&body[desc_start..p]);
        }
        Ok(section)
    })?;

    let quoted = format!("'{MODULE}'");
    let double_quoted = format!("\"{MODULE}\"");
    if !glue.contains(&quoted) && !glue.contains(&double_quoted) {
        bail!("the glue does not name the import module {MODULE}");
    }
    let renames: std::collections::HashMap<String, String> = renames.into_iter().collect();
    let glue = drop_unused_imports(glue, |name| renames.contains_key(name));
    let glue = rename_identifiers(
        &glue
            .replace(&quoted, "'a'")
            .replace(&double_quoted, "\"a\""),
        &renames,
    );
    Ok((out, glue))
}

/// Returns the wasm without the exports that `glue` never reads
/// (`wasm.<name>`), and their names. `KEEP`, which crumb.js calls by
/// name, stays.
pub fn drop_unread_exports(wasm: &[u8], glue: &str) -> anyhow::Result<(Vec<u8>, Vec<String>)> {
    let read = |name: &str| {
        let mut rest = glue;
        let needle = format!("wasm.{name}");
        while let Some(at) = rest.find(&needle) {
            rest = &rest[at + needle.len()..];
            // The whole name, not the start of a longer one.
            if !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
                return true;
            }
        }
        false
    };
    let mut dropped = Vec::new();
    let out = rewrite_section(wasm, 7, |body| {
        let mut p = 0;
        let count = read_leb(body, &mut p)?;
        let mut kept = Vec::new();
        let mut n = 0;
        for _ in 0..count {
            let start = p;
            let name = read_name(body, &mut p)?;
            p += 1; // kind
            read_leb(body, &mut p)?;
            if KEEP.contains(&name) || read(name) {
                kept.extend_from_slice(&body[start..p]);
                n += 1;
            } else {
                dropped.push(name.to_owned());
            }
        }
        let mut section = Vec::new();
        write_leb(&mut section, n);
        section.extend_from_slice(&kept);
        Ok(section)
    })?;
    Ok((out, dropped))
}

/// The wasm with the body of its section `id` replaced by what `f` makes of
/// it; every other section as it is.
fn rewrite_section(
    wasm: &[u8],
    id: u8,
    mut f: impl FnMut(&[u8]) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    if wasm.get(..8) != Some(b"\0asm\x01\0\0\0".as_slice()) {
        bail!("not a wasm module");
    }
    let mut out = wasm[..8].to_vec();
    let mut pos = 8;
    while pos < wasm.len() {
        let this = wasm[pos];
        pos += 1;
        let size = read_leb(wasm, &mut pos)? as usize;
        let body = wasm.get(pos..pos + size).context("truncated section")?;
        pos += size;
        let body = if this == id { f(body)? } else { body.to_vec() };
        out.push(this);
        write_leb(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
    }
    Ok(out)
}

/// Drops the glue's import functions that the wasm no longer imports
/// (wasm-bindgen writes the glue before wasm-opt removes dead calls, such
/// as the one to `__wbindgen_throw`). Each is an entry of the import object,
/// written by wasm-bindgen as `<name>: function(...) {` up to `},` at the
/// same indentation.
fn drop_unused_imports(glue: &str, imported: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(glue.len());
    let mut skip_until: Option<String> = None;
    for line in glue.lines() {
        if let Some(end) = &skip_until {
            if line == end {
                skip_until = None;
            }
            continue;
        }
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some((name, _)) = trimmed.split_once(": function(")
            && name.starts_with("__wbg")
            && !imported(name)
        {
            skip_until = Some(format!("{indent}}},"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Replaces whole identifiers (never parts of longer ones) found in
/// `renames`.
fn rename_identifiers(js: &str, renames: &std::collections::HashMap<String, String>) -> String {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut out = String::with_capacity(js.len());
    let mut rest = js;
    while let Some(start) = rest.find(is_ident) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find(|c: char| !is_ident(c)).unwrap_or(tail.len());
        let word = &tail[..end];
        out.push_str(renames.get(word).map_or(word, String::as_str));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_unique() {
        let names: std::collections::HashSet<_> = (0..3000).map(short_name).collect();
        assert_eq!(names.len(), 3000);
        assert_eq!(short_name(0), "a");
        assert_eq!(short_name(52), "aa");
    }

    #[test]
    fn unused_imports_are_dropped_whole() {
        let glue = "        const import0 = {
            __wbg_used_1: function(arg0) {
                arg0.focus();
            },
            __wbg_gone_2: function(arg0, arg1) {
                throw new Error(x(arg0, arg1));
            },
            __wbg_used_3: function() {
                return Date.now();
            },
        };
";
        let kept = drop_unused_imports(glue, |name| name.starts_with("__wbg_used"));
        assert!(!kept.contains("gone") && !kept.contains("throw"), "{kept}");
        assert!(
            kept.contains("focus") && kept.contains("Date.now"),
            "{kept}"
        );
        assert_eq!(kept.matches("},").count(), 2, "{kept}");
    }

    #[test]
    fn identifiers_are_renamed_whole() {
        let renames = [("__wbg_x_1".to_owned(), "a".to_owned())].into();
        assert_eq!(
            rename_identifiers("{__wbg_x_1:f(__wbg_x_12), y.__wbg_x_1}", &renames),
            "{a:f(__wbg_x_12), y.a}"
        );
    }

    #[test]
    fn exports_the_glue_never_reads_are_dropped() {
        // A module with nothing but an export section: memory, two
        // functions and a global (kind 0, 2, 3), by index.
        let mut section = Vec::new();
        write_leb(&mut section, 4);
        for (name, kind) in [
            ("memory", 2u8),
            ("__wbindgen_malloc", 0),
            ("__wbindgen_free", 0),
            ("__abort_handler", 3),
        ] {
            write_name(&mut section, name);
            section.extend_from_slice(&[kind, 0]);
        }
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.push(7);
        write_leb(&mut wasm, section.len() as u64);
        wasm.extend_from_slice(&section);
        // `wasm.__wbindgen_freed` is another name, not a read of `free`.
        let glue = "f(wasm.__wbindgen_malloc, 1); wasm.__wbindgen_freed(2);";

        let (out, dropped) = drop_unread_exports(&wasm, glue).unwrap();

        assert_eq!(dropped, ["__wbindgen_free", "__abort_handler"]);
        let (again, none) = drop_unread_exports(&out, glue).unwrap();
        assert!(none.is_empty());
        assert_eq!(again, out);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("memory") && text.contains("__wbindgen_malloc"));
        assert!(!text.contains("__wbindgen_free") && !text.contains("__abort"));
    }

    #[test]
    fn leb_round_trips() {
        for v in [0u64, 1, 127, 128, 300, 1 << 40] {
            let mut buf = Vec::new();
            write_leb(&mut buf, v);
            assert_eq!(read_leb(&buf, &mut 0).unwrap(), v);
        }
    }
}
