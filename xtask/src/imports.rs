//! Shortens the wasm module's import and internal export names.
//! wasm-bindgen names every import `__wbg_<js name>_<16 hex digits>` in
//! module `./crumb_widget_bg.js`; those names appear twice on the wire (in
//! the wasm's import section and as keys of the glue's import object), and
//! the hex digits hardly compress. They become `a`, `b`, ... in module `a`,
//! in both files. Exports only the glue uses (`__wbindgen_malloc`, closure
//! invokers, ...) become `$a`, `$b`, ...; `memory` and the widget's own API
//! keep their names.

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
    if wasm.get(..8) != Some(b"\0asm\x01\0\0\0".as_slice()) {
        bail!("not a wasm module");
    }
    let mut out = wasm[..8].to_vec();
    let mut renames = Vec::new();
    let (mut imports, mut exports) = (0, 0);
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        pos += 1;
        let size = read_leb(wasm, &mut pos)? as usize;
        let body = wasm.get(pos..pos + size).context("truncated section")?;
        pos += size;
        if id == 7 {
            let mut p = 0;
            let count = read_leb(body, &mut p)?;
            let mut section = Vec::new();
            write_leb(&mut section, count);
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
            out.push(7);
            write_leb(&mut out, section.len() as u64);
            out.extend_from_slice(&section);
            continue;
        }
        if id != 2 {
            out.push(id);
            write_leb(&mut out, size as u64);
            out.extend_from_slice(body);
            continue;
        }
        let mut p = 0;
        let count = read_leb(body, &mut p)?;
        let mut section = Vec::new();
        write_leb(&mut section, count);
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
        out.push(2);
        write_leb(&mut out, section.len() as u64);
        out.extend_from_slice(&section);
    }

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
    fn leb_round_trips() {
        for v in [0u64, 1, 127, 128, 300, 1 << 40] {
            let mut buf = Vec::new();
            write_leb(&mut buf, v);
            assert_eq!(read_leb(&buf, &mut 0).unwrap(), v);
        }
    }
}
