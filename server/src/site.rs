//! The built site (`--site-root`, `target/site`) as its manifest describes it (`hash.txt`,
//! written by `scripts/seal-assets.sh`, read once at start-up): which files are named after
//! their content (cargo-leptos's hashes of the page bundle and the stylesheet, `js:`, `wasm:`,
//! `css:`, and the crypto worker directory's, `worker:`), and what the pages link. Served by
//! [`crate::routes::assets`].

use std::path::{Path, PathBuf};

use blindfold_app::assets::{PageAssets, UNSEALED_WORKER_SCRIPT};

/// The page bundle's name (`pkg/blindfold.<hash>.js`), as cargo-leptos writes it.
pub const OUTPUT_NAME: &str = "blindfold";
/// The manifest, in the site root.
pub const MANIFEST: &str = "hash.txt";
/// The worker's entry script, in its directory.
const WORKER_SCRIPT: &str = "crypto-worker.js";

/// What the manifest says about the built site.
#[derive(Clone, Debug, Default)]
pub struct SiteAssets {
    /// The manifest's absolute path, for leptos to read the page bundle's names from (None
    /// without a manifest: leptos then uses the build's unhashed names).
    manifest: Option<PathBuf>,
    /// The content-hashed files, as URL paths: `/pkg/blindfold.<hash>.js` etc.
    hashed_files: Vec<String>,
    /// `/worker/<hash>/`, when the worker is sealed.
    worker_dir: Option<String>,
}

impl SiteAssets {
    /// Reads the manifest of the site at `site_root`. A site without one (not built, or built
    /// without scripts/seal-assets.sh) is served under its build's own names, none immutable,
    /// and the pages start the worker from `/worker/` ([`Self::check`] says so): the API and
    /// the tests run without a built site.
    pub fn load(site_root: &Path) -> Self {
        let path = site_root.join(MANIFEST);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Self::default();
        };
        // Absolute, because leptos joins it to its executable's directory (an absolute path
        // replaces that), and the binary that serves is not always beside the site (tests).
        let manifest = std::path::absolute(&path).unwrap_or(path);
        Self::parse(&text, Some(manifest))
    }

    /// Warns about what the pages will miss: a site that is not built or not sealed, or a
    /// file the pages load that is not there.
    pub fn check(&self, site_root: &Path) {
        if self.manifest.is_none() {
            tracing::warn!(
                site_root = %site_root.display(),
                "no asset manifest ({MANIFEST}): static files are served without long-term caching and \
                 pages start the crypto worker from {UNSEALED_WORKER_SCRIPT} (run scripts/build.sh)"
            );
        } else if self.worker_dir.is_none() {
            tracing::warn!(
                site_root = %site_root.display(),
                "the asset manifest names no crypto worker: pages start it from {UNSEALED_WORKER_SCRIPT} \
                 (run scripts/build-worker.sh, then scripts/seal-assets.sh)"
            );
        }
        if let Some(missing) = self.page_files().iter().find(|file| !site_root.join(file).is_file()) {
            tracing::warn!(
                site_root = %site_root.display(),
                missing,
                "the web app is not built here: the API works, the pages will not (run scripts/build.sh)"
            );
        }
    }

    /// The manifest's lines (`kind: hash`); lines of other kinds are ignored, and so are hashes
    /// that could not be a file name's part (the manifest is ours, but a path is built from it).
    fn parse(text: &str, manifest: Option<PathBuf>) -> Self {
        let mut assets = Self {
            manifest,
            ..Self::default()
        };
        for (kind, hash) in text.lines().filter_map(|line| line.split_once(':')) {
            let (kind, hash) = (kind.trim(), hash.trim());
            let plausible = !hash.is_empty()
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !plausible {
                continue;
            }
            match kind {
                "js" | "wasm" | "css" => assets.hashed_files.push(format!("/pkg/{OUTPUT_NAME}.{hash}.{kind}")),
                "worker" => assets.worker_dir = Some(format!("/worker/{hash}/")),
                _ => {}
            }
        }
        assets
    }

    /// The manifest for leptos (`LeptosOptions::hash_file`), when there is one.
    pub fn manifest(&self) -> Option<&Path> {
        self.manifest.as_deref()
    }

    /// What pages are told about the site.
    pub fn page_assets(&self) -> PageAssets {
        match &self.worker_dir {
            Some(dir) => PageAssets {
                worker_script: format!("{dir}{WORKER_SCRIPT}"),
            },
            None => PageAssets::default(),
        }
    }

    /// The files the pages load, as paths under the site root: those must exist for the
    /// pages to work.
    pub fn page_files(&self) -> Vec<String> {
        let mut files: Vec<String> = self.hashed_files.iter().map(|path| path[1..].to_owned()).collect();
        if files.is_empty() {
            files.push(format!("pkg/{OUTPUT_NAME}.js"));
        }
        files.push(self.page_assets().worker_script[1..].to_owned());
        files
    }

    /// Whether the file at this URL path is named after its content, so its bytes never change.
    pub fn is_immutable(&self, path: &str) -> bool {
        self.hashed_files.iter().any(|file| file == path)
            || self
                .worker_dir
                .as_ref()
                .is_some_and(|dir| path.starts_with(dir.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::SiteAssets;

    #[test]
    fn the_manifest_names_the_immutable_files() {
        let assets = SiteAssets::parse(
            "js: AbC-d_1\nwasm: WaSm2\ncss: CsS3\nworker: 0123456789abcdef\nsplit: ignored\nbad: ../x\n",
            None,
        );
        for path in [
            "/pkg/blindfold.AbC-d_1.js",
            "/pkg/blindfold.WaSm2.wasm",
            "/pkg/blindfold.CsS3.css",
            "/worker/0123456789abcdef/crypto-worker.js",
            "/worker/0123456789abcdef/snippets/x/workerHelpers.js",
        ] {
            assert!(assets.is_immutable(path), "{path}");
        }
        for path in [
            "/pkg/blindfold.js",
            "/pkg/blindfold.WaSm2.js",
            "/worker/crypto-worker.js",
            "/worker/fedcba9876543210/crypto-worker.js",
            "/favicon.ico",
        ] {
            assert!(!assets.is_immutable(path), "{path}");
        }
        assert_eq!(
            assets.page_assets().worker_script,
            "/worker/0123456789abcdef/crypto-worker.js"
        );
        assert_eq!(
            assets.page_files(),
            [
                "pkg/blindfold.AbC-d_1.js",
                "pkg/blindfold.WaSm2.wasm",
                "pkg/blindfold.CsS3.css",
                "worker/0123456789abcdef/crypto-worker.js"
            ]
        );
    }

    #[test]
    fn a_manifest_with_a_malformed_worker_line_falls_back_to_the_unsealed_worker() {
        let assets = SiteAssets::parse("worker: ../../etc\njs: \n", None);
        assert_eq!(assets.page_assets().worker_script, "/worker/crypto-worker.js");
        assert!(!assets.is_immutable("/worker/crypto-worker.js"));
        assert_eq!(assets.page_files(), ["pkg/blindfold.js", "worker/crypto-worker.js"]);
    }
}
