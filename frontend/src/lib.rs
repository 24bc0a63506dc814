//! # blindfold-frontend
//!
//! The page's WebAssembly: it hydrates the server-rendered Leptos app. The cryptography runs in
//! a separate module, `blindfold-worker` (in `worker/`), inside a Web Worker, so this bundle
//! stays small and the page never blocks on key generation or encryption.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(blindfold_app::App);
}
