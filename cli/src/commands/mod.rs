//! One module per group of subcommands, each a clap struct with `run`.

pub mod account;
pub mod files;
pub mod keys;
pub mod predict;

use anyhow::Context as _;
use blindfold_cli::ApiClient;
use blindfold_cli::predict::fetch_spec;
use blindfold_cli::store::LocalStore;
use blindfold_model::{ClientKey, ClientSpec, Dataset};

/// What every command needs: the API client (with the saved session) and the local store.
pub struct Context {
    pub client: ApiClient,
    pub store: LocalStore,
}

impl Context {
    pub fn new(server: &str) -> anyhow::Result<Self> {
        let store = LocalStore::for_server(server)?;
        let client = ApiClient::new(server)?.with_session(store.session()?);
        Ok(Self { client, store })
    }

    pub fn require_login(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.client.session().is_some(),
            "not logged in: run `blindfold login --username NAME`"
        );
        Ok(())
    }

    /// The model's spec from the server and this machine's secret key for it.
    pub async fn spec_and_key(&self, model: &str) -> anyhow::Result<(ClientSpec, ClientKey)> {
        Ok((fetch_spec(&self.client, model).await?, self.client_key(model)?))
    }

    fn client_key(&self, model: &str) -> anyhow::Result<ClientKey> {
        let path = self.store.client_key_path(model)?;
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "no key for `{model}` at {}: run `blindfold keygen --model {model}`",
                path.display()
            )
        })?;
        Ok(ClientKey::from_bytes(&bytes)?)
    }
}

/// The password from `BLINDFOLD_PASSWORD`, or asked for on the terminal.
pub fn password(prompt: &str) -> anyhow::Result<String> {
    match std::env::var("BLINDFOLD_PASSWORD") {
        Ok(password) => Ok(password),
        Err(_) => rpassword::prompt_password(prompt).context("reading the password"),
    }
}

/// Rows of a CSV whose header names the spec's features (any order, extra columns ignored).
pub fn read_rows(path: &std::path::Path, spec: &blindfold_model::ClientSpec) -> anyhow::Result<Vec<Vec<f64>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let rows = Dataset::from_csv(&text)?.select(&spec.feature_names())?;
    anyhow::ensure!(!rows.is_empty(), "{} has no rows", path.display());
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use blindfold_model::params::InputEncoding;
    use blindfold_model::quantize::FeatureQuantizer;
    use blindfold_model::spec::{OutputDecoding, SPEC_FORMAT_VERSION};
    use blindfold_model::{ClientSpec, Objective};
    use proptest::prelude::*;

    use super::read_rows;

    /// A spec with features `a` and `b`.
    fn spec() -> ClientSpec {
        let feature = |name: &str| FeatureQuantizer {
            name: name.into(),
            edges: vec![0.0],
            valid_min: -1.0,
            valid_max: 1.0,
        };
        ClientSpec {
            format_version: SPEC_FORMAT_VERSION,
            features: vec![feature("a"), feature("b")],
            objective: Objective::RegSquaredError,
            labels: Vec::new(),
            outputs: vec![OutputDecoding {
                blocks: 1,
                max_value: 3,
                scale: 1.0,
                offset: 0.0,
            }],
            encryption: InputEncoding::current(),
        }
    }

    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<f64>().prop_map(|v| v.to_string()),
            prop::sample::select(vec![
                "",
                " ",
                "a",
                "b",
                "c",
                "NaN",
                "inf",
                "-inf",
                "1e999",
                "1e-999",
                "0x1",
                "\"1\"",
                "\"1,2\"",
                "\"",
                "\"\"",
                "١",
                "\u{0}",
                "\u{FEFF}a",
                "\t1\t",
                "+1",
                "--1",
                ".",
            ])
            .prop_map(str::to_owned),
            ".{0,6}",
        ]
    }

    /// CSV files: a header naming some of the columns (or none), ragged rows of hostile cells,
    /// any line ends; or any bytes at all, invalid UTF-8 included.
    fn file() -> impl Strategy<Value = Vec<u8>> {
        let header = prop_oneof![
            Just("a,b".to_owned()),
            Just("b,x,a".to_owned()),
            prop::collection::vec(cell(), 0..4).prop_map(|c| c.join(",")),
        ];
        let line = prop::collection::vec(cell(), 0..4).prop_map(|cells| cells.join(","));
        let end = prop::sample::select(vec!["\n", "\r\n", "\r"]);
        prop_oneof![
            4 => (header, prop::collection::vec(line, 0..6), end).prop_map(|(header, lines, end)| {
                let mut all = vec![header];
                all.extend(lines);
                all.join(end).into_bytes()
            }),
            1 => prop::collection::vec(any::<u8>(), 0..300),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// `blindfold predict --features FILE`: never a panic, and the rows it returns are the
        /// spec's features, finite, at least one.
        #[test]
        fn feature_csv_files_never_panic(bytes in file()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("rows.csv");
            std::fs::write(&path, &bytes).unwrap();
            let spec = spec();
            if let Ok(rows) = read_rows(&path, &spec) {
                prop_assert!(!rows.is_empty());
                for row in rows {
                    prop_assert_eq!(row.len(), spec.features.len());
                    prop_assert!(row.iter().all(|v| v.is_finite()));
                }
            }
        }
    }
}
