//! Where the page finds the crypto worker. Its files live in a directory named after their
//! content (`/worker/<hash>/`, made by `scripts/seal-assets.sh`) so that browsers keep them for
//! good and download them again only when they change. The server reads the name once at
//! start-up and writes the worker script's URL into every page's `<head>`
//! (`<meta name="blindfold-worker">`), where the browser side reads it.

/// The `<meta>` tag's name.
pub const WORKER_META: &str = "blindfold-worker";

/// The worker script of an unsealed site (no manifest): the build's own names, no caching.
pub const UNSEALED_WORKER_SCRIPT: &str = "/worker/crypto-worker.js";

/// What the server tells every page about the built site.
#[derive(Clone, Debug)]
pub struct PageAssets {
    /// The crypto worker's entry script, e.g. `/worker/0123456789abcdef/crypto-worker.js`.
    pub worker_script: String,
}

impl Default for PageAssets {
    fn default() -> Self {
        Self {
            worker_script: UNSEALED_WORKER_SCRIPT.to_owned(),
        }
    }
}

/// The crypto worker script's URL, as the server wrote it into the page (in the browser).
pub fn worker_script() -> String {
    leptos::prelude::document()
        .query_selector(&format!(r#"meta[name="{WORKER_META}"]"#))
        .ok()
        .flatten()
        .and_then(|meta| meta.get_attribute("content"))
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| UNSEALED_WORKER_SCRIPT.to_owned())
}
