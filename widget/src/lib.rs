//! Crumb's consent widget: the banner a visitor sees, the preferences
//! dialog, the gate that keeps third-party scripts and embeds inert until
//! they are allowed, and the first-party cookie that remembers the choice.
//!
//! `crumb.js` (the wasm-bindgen glue plus `loader.js`) fetches the site
//! config and this module in parallel and calls [`start`]. Everything here
//! is written for size: `no_std` on wasm32 (no std panic or formatting
//! code), no serde (the config comes in a compact form read with one
//! `split`), no `format!`, and no closures (crumb.js forwards events).

#![cfg_attr(target_arch = "wasm32", no_std)]
// `String::push` of a `char` brings in UTF-8 encoding; one-character
// `push_str` does not.
#![allow(clippy::single_char_add_str)]
// On the host only the pure modules are built, for their unit tests; what
// only the page-facing modules call looks unused there.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

extern crate alloc;

mod config;
mod consent;

// The modules that touch the page exist only in the browser build: they
// call into JS, and the global app in `api` is sound only with one thread.
#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod banner;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
mod gate;
#[cfg(target_arch = "wasm32")]
mod modal;
#[cfg(target_arch = "wasm32")]
mod storage;

/// A free-list allocator a fraction of dlmalloc's size; the widget makes few,
/// small allocations, so allocation speed does not matter.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: the widget is built for wasm32 without threads (no `atomics`
// target feature), so the allocator is only ever used from one thread and
// needs no lock.
#[allow(unsafe_code)]
static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// Panics abort without a message: formatting one would ship std's
/// formatting machinery to every visitor. Code paths avoid panics anyway.
#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(target_arch = "wasm32")]
pub use api::start;

/// Stops on a broken invariant (a bug) without a message: a message would
/// need formatting code. This throws a `RuntimeError` to crumb.js, which
/// called in.
#[cfg(target_arch = "wasm32")]
pub(crate) fn abort() -> ! {
    core::arch::wasm32::unreachable()
}
