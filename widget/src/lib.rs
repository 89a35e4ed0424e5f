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

extern crate alloc;

mod api;
mod app;
mod banner;
mod config;
mod consent;
mod declaration;
mod dom;
mod gate;
mod modal;
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

pub use api::start;

/// Stops on a broken invariant (a bug) without a message: a message would
/// need formatting code. In the browser this throws a `RuntimeError` to
/// crumb.js, which called in.
pub(crate) fn abort() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("crumb: broken invariant");
}
