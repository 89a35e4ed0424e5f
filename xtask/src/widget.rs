//! Builds the widget for release: cargo (profile `widget`) → wasm-bindgen
//! (no-modules glue) → wasm-opt -Oz when a good one is installed → one
//! `crumb.js` (glue + loader) and content-hashed wasm and CSS in
//! `widget/dist/`, which the server serves.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};

use crate::cmd;

const DIST: &str = "widget/dist";

/// The wasm-bindgen version in Cargo.lock; the CLI must match it exactly.
fn locked_wasm_bindgen() -> anyhow::Result<String> {
    let lock = std::fs::read_to_string("Cargo.lock").context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(v.trim_end_matches('"').to_owned());
        }
    }
    bail!("wasm-bindgen is not in Cargo.lock")
}

fn tool_version(program: &str) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn ensure_wasm_bindgen(version: &str) -> anyhow::Result<()> {
    let have = tool_version("wasm-bindgen").unwrap_or_default();
    if !have.ends_with(version) {
        // Not --locked: one of the CLI's locked dependencies is not in the
        // index (see ../shared/brief/TOOLCHAIN.md).
        cmd(
            "cargo",
            &["install", "wasm-bindgen-cli", "--version", version],
        )?;
    }
    Ok(())
}

/// binaryen releases before 116 (Debian ships 108) corrupt current
/// wasm-bindgen output, so only a newer wasm-opt is used.
fn good_wasm_opt(program: &str) -> bool {
    let v = tool_version(program).unwrap_or_default();
    let n: u32 = v
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    n >= 116
}

/// The npm packages the build uses (wasm-opt, esbuild), installed into
/// `target/tools` when the machine has no good copy on its PATH: never
/// globally, so `cargo xtask demo` on a fresh machine serves the same
/// widget CI measures.
const NPM_TOOLS: [&str; 2] = ["binaryen@132", "esbuild@0.25"];
const TOOLS_DIR: &str = "target/tools";

/// The program to run for `name` (`wasm-opt` or `esbuild`): a good one on
/// the PATH, else the one in `target/tools` (installed from npm on first
/// use); `None` when neither can be had (no npm, no registry).
fn npm_tool(name: &str) -> Option<String> {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let good = |program: &str| match name {
        "wasm-opt" => good_wasm_opt(program),
        _ => tool_version(program).is_some(),
    };
    if good(name) {
        return Some(name.to_owned());
    }
    let local = format!("{TOOLS_DIR}/node_modules/.bin/{name}");
    let installed = *INSTALLED.get_or_init(|| {
        good(&local) || {
            eprintln!("$ npm install --prefix {TOOLS_DIR} {}", NPM_TOOLS.join(" "));
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(TOOLS_DIR)
                .args(NPM_TOOLS)
                .status()
                .is_ok_and(|s| s.success())
        }
    });
    (installed && good(&local)).then_some(local)
}

fn short_hash(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))[..12].to_owned()
}

/// The gzip the server sends (it serves these `.gz` files as they are).
/// Zopfli finds a smaller deflate stream than zlib's best level, about 6%
/// on the wasm, for a second of build time: the files are compressed once
/// and downloaded by every visitor, and every gzip decoder reads them.
fn zopfli_gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Gzip,
        bytes,
        &mut out,
    )?;
    Ok(out)
}

/// Minifies the assembled crumb.js (or, with `loader` "css", the
/// stylesheet) with esbuild ([`npm_tool`]); without it the file is served
/// as written.
fn minify(js: String) -> anyhow::Result<String> {
    minify_as(js, "js")
}

fn minify_as(js: String, loader: &str) -> anyhow::Result<String> {
    use std::io::Write as _;
    let Some(esbuild) = npm_tool("esbuild") else {
        eprintln!("note: no esbuild (and npm could not install it); crumb.js is not minified");
        return Ok(js);
    };
    let mut child = Command::new(esbuild)
        .args(["--minify", "--target=es2020", "--log-level=warning"])
        .arg(format!("--loader={loader}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("starting esbuild")?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(js.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("esbuild failed to minify crumb.js");
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Replaces `old`, which must occur exactly once, with `new`.
fn replace_once(text: &str, old: &str, new: &str) -> anyhow::Result<String> {
    match text.matches(old).count() {
        1 => Ok(text.replacen(old, new, 1)),
        n => bail!(
            "the wasm-bindgen glue has changed ({n} matches for {:?}); update xtask/src/widget.rs",
            old.lines().next().unwrap_or(old)
        ),
    }
}

/// Drops the parts of wasm-bindgen's no-modules glue that crumb.js never
/// uses, which every visitor would otherwise download: `initSync`, the
/// guessing of the wasm's URL from the script's, the fallbacks for
/// browsers without `instantiateStreaming` or `encodeInto` (the widget
/// needs `<dialog>` and `:has()`, which came later), and
/// deprecated-argument warnings, the instance and module kept for
/// those, and the clean-up after a failed allocation in `start`. It also
/// simplifies three helpers: strings are encoded whole, decoded with the
/// decoder's defaults, and memory views are made fresh rather than cached;
/// numbers and booleans reach the wasm unconverted, and `on` and `text`
/// are the wasm's own exports rather than wrappers. The
/// cuts match the pinned wasm-bindgen's output exactly and fail the build
/// when it changes.
fn trim_glue(glue: &str) -> anyhow::Result<String> {
    let glue = replace_once(
        glue,
        "    let script_src;
    if (typeof document !== 'undefined' && document.currentScript !== null) {
        script_src = new URL(document.currentScript.src, location.href).toString();
    }
",
        "",
    )?;
    // The decoder: UTF-8 is the default. Without `ignoreBOM` a string the
    // wasm hands over loses a leading byte-order mark (U+FEFF), an
    // invisible character that none of the texts, attribute values and
    // cookies it writes needs. The first `decode()` warms nothing the
    // first real one would not.
    let glue = replace_once(
        &glue,
        "    let cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
    cachedTextDecoder.decode();
",
        "    let cachedTextDecoder = new TextDecoder();
",
    )?;
    let glue = replace_once(
        &glue,
        "    if (!('encodeInto' in cachedTextEncoder)) {
        cachedTextEncoder.encodeInto = function (arg, view) {
            const buf = cachedTextEncoder.encode(arg);
            view.set(buf);
            return {
                read: arg.length,
                written: buf.length
            };
        };
    }
",
        "",
    )?;
    // Strings go to the wasm encoded whole: the ASCII loop and the
    // grow-as-you-encode path save a copy, not bytes on the wire. The
    // wasm's memory stays far below 2 GiB, so the addresses it gives and
    // takes are positive numbers as they come, with no `>>> 0`.
    let glue = replace_once(
        &glue,
        "        if (realloc === undefined) {
            const buf = cachedTextEncoder.encode(arg);
            const ptr = malloc(buf.length, 1) >>> 0;
            getUint8ArrayMemory0().subarray(ptr, ptr + buf.length).set(buf);
            WASM_VECTOR_LEN = buf.length;
            return ptr;
        }
",
        "        const buf = cachedTextEncoder.encode(arg);
        const ptr = malloc(buf.length, 1);
        getUint8ArrayMemory0().set(buf, ptr);
        WASM_VECTOR_LEN = buf.length;
        return ptr;
",
    )?;
    let glue = replace_once(
        &glue,
        "        let len = arg.length;
        let ptr = malloc(len, 1) >>> 0;

        const mem = getUint8ArrayMemory0();

        let offset = 0;

        for (; offset < len; offset++) {
            const code = arg.charCodeAt(offset);
            if (code > 0x7F) break;
            mem[ptr + offset] = code;
        }
        if (offset !== len) {
            if (offset !== 0) {
                arg = arg.slice(offset);
            }
            ptr = realloc(ptr, len, len = offset + arg.length * 3, 1) >>> 0;
            const view = getUint8ArrayMemory0().subarray(ptr + offset, ptr + len);
            const ret = cachedTextEncoder.encodeInto(arg, view);

            offset += ret.written;
            ptr = realloc(ptr, len, offset, 1) >>> 0;
        }

        WASM_VECTOR_LEN = offset;
        return ptr;
",
        "",
    )?;
    // Strings from the wasm are decoded where they are read, the one place
    // wasm-bindgen's `decodeText` was called from.
    let glue = replace_once(
        &glue,
        "        ptr = ptr >>> 0;
        return decodeText(",
        "        return cachedTextDecoder.decode(",
    )?;
    let glue = replace_once(
        &glue,
        "    function decodeText(bytes) {
        return cachedTextDecoder.decode(bytes);
    }
",
        "",
    )?;
    // A fresh view per use (a few per event) instead of a cached one that
    // must be checked against memory growth; the caches' variables go too.
    let glue = replace_once(
        &glue,
        "    let cachedUint8ArrayMemory0 = null;
    function getUint8ArrayMemory0() {
        if (cachedUint8ArrayMemory0 === null || cachedUint8ArrayMemory0.byteLength === 0) {
            cachedUint8ArrayMemory0 = new Uint8Array(wasm.memory.buffer);
        }
        return cachedUint8ArrayMemory0;",
        "    function getUint8ArrayMemory0() {
        return new Uint8Array(wasm.memory.buffer);",
    )?;
    let glue = replace_once(
        &glue,
        "    let cachedDataViewMemory0 = null;
    function getDataViewMemory0() {
        if (cachedDataViewMemory0 === null || cachedDataViewMemory0.buffer.detached === true || (cachedDataViewMemory0.buffer.detached === undefined && cachedDataViewMemory0.buffer !== wasm.memory.buffer)) {
            cachedDataViewMemory0 = new DataView(wasm.memory.buffer);
        }
        return cachedDataViewMemory0;",
        "    function getDataViewMemory0() {
        return new DataView(wasm.memory.buffer);",
    )?;
    // `start` takes two strings, and wasm-bindgen frees the first when
    // passing the second throws. Passing one throws only when the wasm's
    // allocator has failed (a trap), after which the widget is dead and
    // freeing buys nothing.
    let glue = replace_once(
        &glue,
        "        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passStringToWasm0(config, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passStringToWasm0(host, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
",
        "        const ptr0 = passStringToWasm0(config, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ptr1 = passStringToWasm0(host, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len1 = WASM_VECTOR_LEN;
",
    )?;
    // Numbers and booleans go to the wasm as they are: a call into
    // WebAssembly converts each argument for an `i32` parameter with
    // ToInt32 itself (true is 1; false, undefined and NaN are 0), which is
    // what wasm-bindgen's `+` gave. And `start`'s 0 or 1 is read as a
    // truth value only.
    let glue = replace_once(
        &glue,
        "        const val2 = +kind;
        const val3 = +status;
        const val4 = +server_set;
",
        "",
    )?;
    let glue = replace_once(
        &glue,
        "wasm.answer(val2, val3, ptr0, len0, val4)",
        "wasm.answer(kind, status, ptr0, len0, server_set)",
    )?;
    let glue = replace_once(
        &glue,
        "        const val3 = +secure;
        const val4 = +gpc;
",
        "",
    )?;
    let glue = replace_once(
        &glue,
        "        const ret = wasm.start(ptr0, len0, doc, val3, ptr1, len1, val4);
        return ret !== 0;",
        "        return wasm.start(ptr0, len0, doc, secure, ptr1, len1, gpc);",
    )?;
    // The instance and module are kept for `initSync` and wasm-bindgen's
    // threads, neither of which crumb.js has: only the exports are read.
    let glue = replace_once(
        &glue,
        "    let wasmModule, wasmInstance, wasm;
    function __wbg_finalize_init(instance, module) {
        wasmInstance = instance;
        wasm = instance.exports;
        wasmModule = module;
        cachedDataViewMemory0 = null;
        cachedUint8ArrayMemory0 = null;",
        "    let wasm;
    function __wbg_finalize_init(instance) {
        wasm = instance.exports;
        Object.assign(__wbg_init, wasm, exports);",
    )?;
    // The slots of a new table of references hold `null` already.
    let glue = replace_once(&glue, "                table.set(1025, null);\n", "")?;
    // crumb.js waits for the module, not for a value: the exports are on
    // `wasm_bindgen`.
    let glue = replace_once(
        &glue,
        "        wasm.__wbindgen_start();
        return wasm;
",
        "        wasm.__wbindgen_start();
",
    )?;
    // `on` and `text` take and give only numbers and JavaScript values, so
    // wasm-bindgen's wrappers only pass them on: crumb.js calls the wasm's
    // own exports, put on `wasm_bindgen` with the wrappers of `answer` and
    // `start` (which encode strings) over them, once the module is in.
    let glue = replace_once(
        &glue,
        "    function on(kind, e) {
        const ret = wasm.on(kind, e);
        return ret;
    }
    exports.on = on;
",
        "",
    )?;
    let glue = replace_once(
        &glue,
        "    function text(what) {
        const ret = wasm.text(what);
        return ret;
    }
    exports.text = text;
",
        "",
    )?;
    // The import objects need no null prototype: every name the wasm
    // imports is an own property, which no property of a page's
    // `Object.prototype` can stand in for.
    let glue = replace_once(
        &glue,
        "        const import0 = {
            __proto__: null,
",
        "        const import0 = {
",
    )?;
    let glue = replace_once(
        &glue,
        "        return {
            __proto__: null,
            \"./crumb_widget_bg.js\": import0,
        };",
        "        return { \"./crumb_widget_bg.js\": import0 };",
    )?;
    // With the encoding loop gone, no string is grown in the wasm's memory:
    // `__wbindgen_realloc` is neither passed nor exported (see
    // `imports::drop_unread_exports`).
    let glue = replace_once(
        &glue,
        "function passStringToWasm0(arg, malloc, realloc) {",
        "function passStringToWasm0(arg, malloc) {",
    )?
    .replace(", wasm.__wbindgen_realloc)", ")");
    let start = glue
        .find("    async function __wbg_load(")
        .context("the wasm-bindgen glue has no __wbg_load; update xtask/src/widget.rs")?;
    let tail = "    return Object.assign(__wbg_init, { initSync }, exports);
})({ __proto__: null });";
    if !glue.trim_end().ends_with(tail) {
        bail!("the wasm-bindgen glue ends differently; update xtask/src/widget.rs");
    }
    // The exports object is only copied from, so a plain one does.
    Ok(format!(
        "{}    async function __wbg_init(response) {{
        const {{ instance }} = await WebAssembly.instantiateStreaming(response, __wbg_get_imports());
        __wbg_finalize_init(instance);
    }}
    return __wbg_init;
}})({{}});
",
        &glue[..start]
    ))
}

/// The import object's functions as arrow functions, which are shorter
/// (esbuild keeps a function a function). An arrow function has no `this`
/// or `arguments` of its own, so glue that reads either is refused.
fn arrow_imports(glue: &str) -> anyhow::Result<String> {
    if glue.contains("this") || glue.contains("arguments") {
        bail!("the wasm-bindgen glue reads `this` or `arguments`; update xtask/src/widget.rs");
    }
    let mut out = String::with_capacity(glue.len());
    for line in glue.split_inclusive('\n') {
        match line.split_once(": function(") {
            Some((name, rest)) if rest.ends_with(") {\n") => {
                let params = &rest[..rest.len() - ") {\n".len()];
                out.push_str(&format!("{name}: ({params}) => {{\n"));
            }
            _ => out.push_str(line),
        }
    }
    Ok(out)
}

/// Each import that hands the wasm a string, or an element that may be
/// missing, repeats the same few statements after its DOM call
/// (wasm-bindgen writes them out per import). They become one call to a
/// helper each: `returnString(retptr, value)` writes the string (or none)
/// where the wasm reads it, and `optionalRef(value)` is 0 for none, else
/// the value's slot in the externref table. The wasm sees the same values
/// as before. Glue in which no import has either shape is refused.
fn shared_returns(glue: &str) -> anyhow::Result<String> {
    // The statements after `const ret = EXPR;` that each helper replaces.
    const OPTIONAL_REF: &[&str] = &["return isLikeNone(ret) ? 0 : addToExternrefTable0(ret);"];
    const STRING: &[&str] = &[
        "const ptr1 = passStringToWasm0(ret, wasm.__wbindgen_malloc);",
        "const len1 = WASM_VECTOR_LEN;",
        "getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 1, len1, true);",
        "getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, ptr1, true);",
    ];
    const OPTIONAL_STRING: &[&str] = &[
        "var ptr1 = isLikeNone(ret) ? 0 : passStringToWasm0(ret, wasm.__wbindgen_malloc);",
        "var len1 = WASM_VECTOR_LEN;",
        "getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 1, len1, true);",
        "getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, ptr1, true);",
    ];
    let lines: Vec<&str> = glue.split_inclusive('\n').collect();
    let follows = |at: usize, shape: &[&str]| {
        lines.len() > at + shape.len()
            && shape
                .iter()
                .enumerate()
                .all(|(i, l)| lines[at + 1 + i].trim() == *l)
    };
    let (mut out, mut collapsed, mut i) = (String::with_capacity(glue.len()), 0, 0);
    while i < lines.len() {
        let line = lines[i];
        let indent = &line[..line.len() - line.trim_start().len()];
        let value = line
            .trim()
            .strip_prefix("const ret = ")
            .and_then(|v| v.strip_suffix(';'));
        match value {
            Some(v) if follows(i, OPTIONAL_REF) => {
                out.push_str(&format!("{indent}return optionalRef({v});\n"));
                i += 1 + OPTIONAL_REF.len();
            }
            Some(v) if follows(i, STRING) || follows(i, OPTIONAL_STRING) => {
                out.push_str(&format!("{indent}return returnString(arg0, {v});\n"));
                i += 1 + STRING.len();
            }
            _ => {
                out.push_str(line);
                i += 1;
                continue;
            }
        }
        collapsed += 1;
    }
    if collapsed == 0 {
        bail!(
            "no import of the wasm-bindgen glue returns a string or an optional element; update xtask/src/widget.rs"
        );
    }
    // The helpers take the place of `isLikeNone` and of the memory view
    // that only the collapsed statements used (addresses with no `>>> 0`,
    // as in `trim_glue`).
    let out = replace_once(
        &out,
        "    function isLikeNone(x) {
        return x === undefined || x === null;
    }
",
        "    function optionalRef(value) {
        return value == null ? 0 : addToExternrefTable0(value);
    }

    function returnString(retptr, value) {
        const ptr = value == null ? 0 : passStringToWasm0(value, wasm.__wbindgen_malloc);
        const view = new DataView(wasm.memory.buffer);
        view.setInt32(retptr + 4, WASM_VECTOR_LEN, true);
        view.setInt32(retptr, ptr, true);
    }
",
    )?;
    let out = replace_once(
        &out,
        "    function getDataViewMemory0() {
        return new DataView(wasm.memory.buffer);
    }
",
        "",
    )?;
    if out.contains("isLikeNone") || out.contains("getDataViewMemory0") {
        bail!(
            "an import of the wasm-bindgen glue has a shape `shared_returns` does not know; update xtask/src/widget.rs"
        );
    }
    Ok(out)
}

/// The content-hashed files (and their `.gz`) that the previous build's
/// crumb.js loads, read from `dist` before it is rebuilt. They stay beside
/// the new build's: crumb.js is cached for five minutes and then served
/// stale for up to a day while it revalidates, so after an upgrade a
/// returning visitor's browser may run the previous crumb.js once more,
/// and that needs its own wasm and stylesheets (a new wasm does not fit
/// an old loader's glue).
fn previous_build(dist: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(loader) = std::fs::read_to_string(dist.join("crumb.js")) else {
        return Vec::new();
    };
    let mut names: Vec<&str> = loader
        .split(['"', '\'', '/'])
        .filter(|t| t.starts_with("crumb-") && (t.ends_with(".wasm") || t.ends_with(".css")))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .flat_map(|n| [n.to_owned(), format!("{n}.gz")])
        .filter_map(|n| Some((n.clone(), std::fs::read(dist.join(&n)).ok()?)))
        .collect()
}

pub fn build() -> anyhow::Result<()> {
    crate::ensure_wasm_target()?;
    ensure_wasm_bindgen(&locked_wasm_bindgen()?)?;
    cmd(
        "cargo",
        &[
            "build",
            "-p",
            "crumb-widget",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "widget",
        ],
    )?;
    let out = Path::new("target/widget-bindgen");
    let _ = std::fs::remove_dir_all(out);
    cmd(
        "wasm-bindgen",
        &[
            "--target",
            "no-modules",
            "--no-typescript",
            "--out-dir",
            "target/widget-bindgen",
            "target/wasm32-unknown-unknown/widget/crumb_widget.wasm",
        ],
    )?;
    let wasm_path = out.join("crumb_widget_bg.wasm");
    let glue = shared_returns(&trim_glue(&std::fs::read_to_string(
        out.join("crumb_widget.js"),
    )?)?)?;
    let mut bindgen = std::fs::read(&wasm_path)?;
    let blanked = crate::strings::blank(&mut bindgen);
    // Exports the trimmed glue never reads (wasm-bindgen's `__wbindgen_free`
    // and its abort-handling globals) go before wasm-opt, so the code only
    // they kept alive goes with them.
    let (bindgen, dropped) = crate::imports::drop_unread_exports(&bindgen, &glue)?;
    std::fs::write(&wasm_path, &bindgen)?;
    eprintln!("blanked {blanked} B of dead panic text (xtask/src/strings.rs)");
    eprintln!(
        "dropped the exports crumb.js never reads: {}",
        dropped.join(", ")
    );
    if let Some(wasm_opt) = npm_tool("wasm-opt") {
        let p = wasm_path.to_str().expect("utf-8 path");
        cmd(
            &wasm_opt,
            &[
                // Flattening and re-looping the control flow first lets
                // -Oz find a little more in this code (50 to 100 B gzip);
                // a speed pass (-O4) between the size passes, and
                // inlining only the smallest functions everywhere, leave
                // code that compresses better: about 75 B less gzip,
                // measured on this widget (larger inlining limits grow it
                // again from 8 on).
                "--flatten",
                "--rereloop",
                "-Oz",
                "-O4",
                "-Oz",
                "--always-inline-max-function-size",
                "6",
                "--converge",
                // Rust puts data and stack above 1 MiB and the module owns
                // its (zeroed) memory, so both assumptions hold; they let
                // wasm-opt fold more constants and drop zero bytes.
                "--low-memory-unused",
                "--zero-filled-memory",
                "--strip-debug",
                "--strip-producers",
                "--strip-target-features",
                p,
                "-o",
                p,
            ],
        )?;
    } else {
        eprintln!("note: no wasm-opt >= 116 (and npm could not install it); the wasm is larger");
    }
    let (wasm, glue) = crate::imports::shorten(&std::fs::read(&wasm_path)?, &glue)?;
    let glue = arrow_imports(&glue)?;
    let css = minify_as(std::fs::read_to_string("widget/crumb.css")?, "css")?.into_bytes();
    // The preferences dialog's stylesheet: fetched when the dialog first
    // opens, so it is not part of what every visitor downloads.
    let dialog_css = minify_as(std::fs::read_to_string("widget/dialog.css")?, "css")?;
    let loader = std::fs::read_to_string("widget/loader.js")?;

    let wasm_name = format!("crumb-{}.wasm", short_hash(&wasm));
    let css_name = format!("crumb-{}.css", short_hash(&css));
    let dialog_css_name = format!("crumb-dialog-{}.css", short_hash(dialog_css.as_bytes()));
    // Comment lines are for readers of the source, not for every visitor.
    let loader: String = loader
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("__CRUMB_WASM__", &wasm_name)
        .replace("__CRUMB_CSS__", &css_name)
        .replace("__CRUMB_DIALOG_CSS__", &dialog_css_name);
    let glue: String = glue
        .lines()
        .filter(|l| !l.trim_start().starts_with("//") && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    // The loader gets a scope of its own: esbuild inlines its named
    // constants (the protocol table) only in a scope that declares no `let`
    // before them, and the glue's scope does.
    let js = minify(format!(
        "(()=>{{\n{glue}\n(()=>{{\n{loader}\n}})();\n}})();\n"
    ))?;

    // The cookie declaration's renderer and stylesheet: fetched only by
    // cookie-policy pages, so they are not part of the widget's bytes.
    let declaration_js = minify(std::fs::read_to_string("widget/declaration.js")?)?;
    let declaration_css = minify_as(std::fs::read_to_string("widget/declaration.css")?, "css")?;

    let kept = previous_build(Path::new(DIST));
    let _ = std::fs::remove_dir_all(DIST);
    std::fs::create_dir_all(DIST)?;
    for (name, bytes) in &kept {
        std::fs::write(Path::new(DIST).join(name), bytes)?;
    }
    for (name, text) in [
        ("crumb-declaration.js", &declaration_js),
        ("crumb-declaration.css", &declaration_css),
        (dialog_css_name.as_str(), &dialog_css),
    ] {
        std::fs::write(Path::new(DIST).join(name), text)?;
        std::fs::write(
            Path::new(DIST).join(format!("{name}.gz")),
            zopfli_gzip(text.as_bytes())?,
        )?;
    }
    let mut gz = [0; 3];
    for ((name, bytes), len) in [
        ("crumb.js", js.as_bytes()),
        (wasm_name.as_str(), &wasm),
        (css_name.as_str(), &css),
    ]
    .into_iter()
    .zip(&mut gz)
    {
        let packed = zopfli_gzip(bytes)?;
        *len = packed.len();
        std::fs::write(Path::new(DIST).join(name), bytes)?;
        std::fs::write(Path::new(DIST).join(format!("{name}.gz")), packed)?;
    }

    let [j, w, c] = gz;
    eprintln!(
        "widget: crumb.js {} B ({j} B gzip), {wasm_name} {} B ({w} B gzip), {css_name} {} B ({c} B gzip); total {} B gzip; when the dialog opens: {dialog_css_name} {} B ({} B gzip)",
        js.len(),
        wasm.len(),
        css.len(),
        j + w + c,
        dialog_css.len(),
        zopfli_gzip(dialog_css.as_bytes())?.len(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_functions_become_arrow_functions_and_nothing_else_changes() {
        // Arrange: an import object as wasm-bindgen writes it, and a
        // function beside it.
        let glue = "        const import0 = {
            a: function(arg0, arg1) {
                arg0.appendChild(arg1);
            },
            b: function() {
                return Date.now();
            },
        };
    function isLikeNone(x) {
";

        // Act
        let arrows = arrow_imports(glue).unwrap();

        // Assert
        assert_eq!(
            arrows,
            "        const import0 = {
            a: (arg0, arg1) => {
                arg0.appendChild(arg1);
            },
            b: () => {
                return Date.now();
            },
        };
    function isLikeNone(x) {
"
        );
        assert!(arrow_imports("a: function() { return arguments[0]; }").is_err());
    }

    #[test]
    fn returned_strings_and_optional_elements_go_through_one_helper_each() {
        // Arrange: four imports as wasm-bindgen writes them (after
        // `trim_glue`): one of each shape, and one it leaves alone.
        let glue = "        const import0 = {
            a: function(arg0) {
                const ret = arg0.activeElement;
                return isLikeNone(ret) ? 0 : addToExternrefTable0(ret);
            },
            b: function(arg0, arg1) {
                const ret = arg1.cookie;
                const ptr1 = passStringToWasm0(ret, wasm.__wbindgen_malloc);
                const len1 = WASM_VECTOR_LEN;
                getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 1, len1, true);
                getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, ptr1, true);
            },
            c: function(arg0, arg1, arg2, arg3) {
                const ret = arg1.getAttribute(getStringFromWasm0(arg2, arg3));
                var ptr1 = isLikeNone(ret) ? 0 : passStringToWasm0(ret, wasm.__wbindgen_malloc);
                var len1 = WASM_VECTOR_LEN;
                getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 1, len1, true);
                getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, ptr1, true);
            },
            d: function(arg0) {
                const ret = arg0.length;
                return ret;
            },
        };
    function getDataViewMemory0() {
        return new DataView(wasm.memory.buffer);
    }
    function isLikeNone(x) {
        return x === undefined || x === null;
    }
";

        // Act
        let shared = shared_returns(glue).unwrap();

        // Assert
        assert!(
            shared.starts_with(
                "        const import0 = {
            a: function(arg0) {
                return optionalRef(arg0.activeElement);
            },
            b: function(arg0, arg1) {
                return returnString(arg0, arg1.cookie);
            },
            c: function(arg0, arg1, arg2, arg3) {
                return returnString(arg0, arg1.getAttribute(getStringFromWasm0(arg2, arg3)));
            },
            d: function(arg0) {
                const ret = arg0.length;
                return ret;
            },
        };
    function optionalRef(value) {"
            ),
            "{shared}"
        );
        assert!(
            shared.ends_with("        view.setInt32(retptr, ptr, true);\n    }\n"),
            "{shared}"
        );
        assert!(!shared.contains("isLikeNone") && !shared.contains("getDataViewMemory0"));
        assert!(shared_returns("    function isLikeNone(x) {\n").is_err());
    }

    #[test]
    fn the_previous_builds_hashed_files_are_kept_and_nothing_else() {
        // Arrange: a dist folder as a build leaves it, and a file its
        // crumb.js does not load.
        let dist = std::env::temp_dir().join(format!("crumb-dist-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dist);
        std::fs::create_dir_all(&dist).unwrap();
        let loader = r#"fetch(f+"crumb/crumb-aaaaaaaaaaaa.wasm");u("crumb-bbbbbbbbbbbb.css");h=u("crumb-dialog-cccccccccccc.css")"#;
        for (name, body) in [
            ("crumb.js", loader),
            ("crumb-aaaaaaaaaaaa.wasm", "wasm"),
            ("crumb-aaaaaaaaaaaa.wasm.gz", "wasm gz"),
            ("crumb-bbbbbbbbbbbb.css", "css"),
            ("crumb-dialog-cccccccccccc.css", "dialog"),
            ("crumb-000000000000.wasm", "older still"),
        ] {
            std::fs::write(dist.join(name), body).unwrap();
        }

        // Act
        let kept = previous_build(&dist);

        // Assert
        let names: Vec<&str> = kept.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "crumb-aaaaaaaaaaaa.wasm",
                "crumb-aaaaaaaaaaaa.wasm.gz",
                "crumb-bbbbbbbbbbbb.css",
                "crumb-dialog-cccccccccccc.css"
            ]
        );
        assert_eq!(kept[1].1, b"wasm gz");
        std::fs::remove_dir_all(&dist).unwrap();
    }
}
