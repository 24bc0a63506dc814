//! One module per group of subcommands, each a clap struct with `run`.

pub mod account;
pub mod files;
pub mod keys;
pub mod predict;

use std::path::Path;

use anyhow::Context as _;
use blindfold_api::KeyInfo;
use blindfold_api::client::ClientOptions;
use blindfold_cli::ApiClient;
use blindfold_cli::predict::{ServedSpec, fetch_spec};
use blindfold_cli::store::{KeyPaths, LocalStore, file_fingerprint};
use blindfold_model::ClientKey;
use blindfold_model::params::PARAMETER_SET_NAME;

/// What every command needs: the API client (with the saved session) and the local store.
pub struct Context {
    pub client: ApiClient,
    pub store: LocalStore,
}

impl Context {
    /// The client of `server`, trusting the CA in `ca_cert` too, and talking plain HTTP to
    /// another machine only with `allow_plain_http`.
    pub fn new(server: &str, ca_cert: Option<&Path>, allow_plain_http: bool) -> anyhow::Result<Self> {
        let ca_certificates = ca_cert
            .map(|path| std::fs::read(path).with_context(|| format!("reading {}", path.display())))
            .transpose()?;
        let options = ClientOptions {
            ca_certificates,
            allow_plain_http,
        };
        let client = ApiClient::with_options(server, &options)?;
        let store = LocalStore::for_server(server)?;
        let client = client.with_session(store.session()?);
        Ok(Self { client, store })
    }

    pub fn require_login(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.client.session().is_some(),
            "not logged in: run `blindfold login --username NAME`"
        );
        Ok(())
    }

    /// The parameter set of `model`'s spec, or without a model the one this build uses.
    pub async fn parameter_set(&self, model: Option<&str>) -> anyhow::Result<String> {
        Ok(match model {
            Some(model) => fetch_spec(&self.client, model)
                .await?
                .spec
                .encryption
                .parameter_set()
                .to_owned(),
            None => PARAMETER_SET_NAME.to_owned(),
        })
    }

    /// The key the server holds for the logged-in user, if any (`None` when logged out).
    pub async fn server_key(&self) -> anyhow::Result<Option<KeyInfo>> {
        if self.client.session().is_none() {
            return Ok(None);
        }
        match self.client.key_info().await {
            Ok(info) => Ok(Some(info)),
            Err(e) if e.status().map(|s| s.as_u16()) == Some(404) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The model's spec from the server, this machine's secret key for its parameter set (the
    /// user's one key for every model of the set) and where the key pair is.
    pub async fn spec_and_key(&self, model: &str) -> anyhow::Result<(ServedSpec, ClientKey, KeyPaths)> {
        let spec = fetch_spec(&self.client, model).await?;
        let parameter_set = spec.spec.encryption.parameter_set();
        let keys = self.store.keys(parameter_set)?;
        let bytes = std::fs::read(&keys.client).with_context(|| {
            format!(
                "no key for parameter set `{parameter_set}` (used by `{model}`) at {}: run `blindfold keygen`",
                keys.client.display()
            )
        })?;
        Ok((spec, ClientKey::from_bytes(&bytes)?, keys))
    }

    /// The owner's words and valid ranges for `model`'s inputs, from the catalogue (none for a
    /// model it does not list).
    pub async fn inputs(&self, model: &str) -> anyhow::Result<Vec<blindfold_api::FeatureInfo>> {
        let models = self.client.models().await.context("reading the catalogue")?;
        Ok(models
            .into_iter()
            .find(|m| m.id == model)
            .map(|m| m.inputs)
            .unwrap_or_default())
    }

    /// Refuses to go on unless the server holds this machine's server key for `parameter_set`:
    /// results evaluated under another key (one a browser uploaded, say) would not decrypt.
    /// Returns the key's fingerprint, which rows encrypted here are bound to.
    pub async fn check_server_key(&self, keys: &KeyPaths, parameter_set: &str) -> anyhow::Result<String> {
        let Some(info) = self.server_key().await? else {
            anyhow::bail!("the server has no key of yours: run `blindfold upload-key`");
        };
        anyhow::ensure!(
            info.parameter_set == parameter_set,
            "the server holds a key of parameter set `{}`, the model needs `{parameter_set}`: run `blindfold upload-key`",
            info.parameter_set
        );
        let local = file_fingerprint(&keys.server).with_context(
            || "this machine's server key: run `blindfold keygen --force`, then `blindfold upload-key`",
        )?;
        anyhow::ensure!(
            info.fingerprint.eq_ignore_ascii_case(&local),
            "the server holds another key of yours (fingerprint {}, set up elsewhere, in a browser say) than \
             this machine's ({}): run `blindfold upload-key` to use this machine's for every model (a browser \
             that set up keys then sets them up again)",
            short(&info.fingerprint),
            short(&local)
        );
        Ok(local)
    }
}

/// A fingerprint's first 16 digits, as people compare them.
pub fn short(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

/// The password from `BLINDFOLD_PASSWORD`, or asked for on the terminal.
pub fn password(prompt: &str) -> anyhow::Result<String> {
    match std::env::var("BLINDFOLD_PASSWORD") {
        Ok(password) => Ok(password),
        Err(_) => rpassword::prompt_password(prompt).context("reading the password"),
    }
}

/// One line of a features CSV: its number in the file (the header is line 1) and its values in
/// the spec's order, or why it cannot be predicted.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvRow {
    pub line: usize,
    pub values: Result<Vec<f64>, String>,
}

/// The rows of a CSV whose header names the spec's features (any order, extra columns
/// ignored), each read on its own: a cell that is not a finite number, or lies beyond the
/// owner's valid range of its feature (`inputs`, by name), refuses its row only. Any other
/// value is kept, beyond the calibration data too. Fails as a whole only when the file cannot
/// be read, its header lacks a feature, or it has no rows.
pub fn read_rows(
    path: &std::path::Path,
    spec: &blindfold_model::ClientSpec,
    inputs: &[blindfold_api::FeatureInfo],
) -> anyhow::Result<Vec<CsvRow>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("reading the header of {}", path.display()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let columns = spec
        .features
        .iter()
        .map(|feature| {
            header
                .iter()
                .position(|column| *column == feature.name)
                .with_context(|| format!("{} has no column `{}`", path.display(), feature.name))
        })
        .collect::<anyhow::Result<Vec<usize>>>()?;
    let rows: Vec<CsvRow> = reader
        .records()
        .enumerate()
        .map(|(i, record)| {
            let line = i + 2;
            let values = record.map_err(|e| e.to_string()).and_then(|record| {
                spec.features
                    .iter()
                    .zip(&columns)
                    .map(|(feature, &column)| {
                        let cell = record.get(column).unwrap_or("");
                        let value = cell
                            .parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite())
                            .ok_or_else(|| format!("`{}` is `{cell}`, not a finite number", feature.name))?;
                        match inputs.iter().find(|info| info.name == feature.name) {
                            Some(info) => info.check(value).map(|()| value),
                            None => Ok(value),
                        }
                    })
                    .collect()
            });
            CsvRow { line, values }
        })
        .collect();
    anyhow::ensure!(!rows.is_empty(), "{} has no rows", path.display());
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use blindfold_model::params::InputEncoding;
    use blindfold_model::spec::quantize::FeatureQuantizer;
    use blindfold_model::spec::{OutputDecoding, SPEC_FORMAT_VERSION};
    use blindfold_model::{ClientSpec, Objective};
    use proptest::prelude::*;

    use super::{CsvRow, read_rows};

    /// A spec with features `a` and `b`.
    fn spec() -> ClientSpec {
        let feature = |name: &str| FeatureQuantizer {
            name: name.into(),
            edges: vec![0.0],
            calibration_min: -1.0,
            calibration_max: 1.0,
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
            encryption: InputEncoding::thermometer(),
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

    #[test]
    fn one_bad_row_refuses_itself_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        std::fs::write(&path, "x,b,a\n1,0.5,0.25\n2,NaN,1\n3,99,1\n4,-50,1e6\n").unwrap();
        let inputs = [blindfold_api::FeatureInfo {
            name: "b".into(),
            valid_max: Some(10.0),
            ..Default::default()
        }];
        let rows = read_rows(&path, &spec(), &inputs).unwrap();
        assert_eq!(
            rows[0],
            CsvRow {
                line: 2,
                values: Ok(vec![0.25, 0.5])
            }
        );
        assert_eq!(rows[1].values, Err("`b` is `NaN`, not a finite number".into()));
        assert_eq!(
            rows[2].values,
            Err("`b` = 99 is outside its valid range (at most 10)".into())
        );
        // Far beyond the calibration data (-1 to 1), within the owner's range: kept.
        assert_eq!(
            rows[3],
            CsvRow {
                line: 5,
                values: Ok(vec![1e6, -50.0])
            }
        );
        std::fs::write(&path, "x,a\n1,2\n").unwrap();
        let missing = read_rows(&path, &spec(), &inputs).unwrap_err();
        assert!(missing.to_string().contains("no column `b`"), "{missing}");
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
            let inputs = [blindfold_api::FeatureInfo {
                name: "b".into(),
                valid_min: Some(-10.0),
                valid_max: Some(10.0),
                ..Default::default()
            }];
            if let Ok(rows) = read_rows(&path, &spec, &inputs) {
                prop_assert!(!rows.is_empty());
                prop_assert!(rows.windows(2).all(|w| w[0].line < w[1].line));
                for row in rows {
                    if let Ok(values) = row.values {
                        prop_assert_eq!(values.len(), spec.features.len());
                        prop_assert!(values.iter().all(|v| v.is_finite()));
                        prop_assert!((-10.0..=10.0).contains(&values[1]));
                    }
                }
            }
        }
    }
}
