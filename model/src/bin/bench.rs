//! Benchmark of the encrypted pipeline on a shipped model or an import-format fixture.
//!
//! `cargo run --release -p blindfold-model --bin bench -- [--json] [--model breast-cancer] [--rows 20]`
//! (`--model` takes any id of `fixtures::SHIPPED`, `fixtures::FORMATS`, `fixtures::LINEAR` or
//! `fixtures::NETWORKS` (of one hidden layer),
//! e.g. `lightgbm-wine`, `sklearn-logistic-regression` or `sklearn-mlp-classifier`)
//!
//! Prints progress lines, then one JSON object on the last line: server evaluation latency
//! (median over the rows after one warm-up), bootstraps per inference, exactness against the
//! clear quantized model, accuracy (quantized vs the float model), key generation time and sizes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;
use blindfold_model::compiler::family::Compiled;
use blindfold_model::compiler::fixtures::{BREAST_CANCER, FORMATS, Fixture, LINEAR, NETWORKS, SHIPPED};
use blindfold_model::compiler::import::ImportedModel;
use blindfold_model::server::Plan;
use blindfold_model::{
    ClientKey, CompressedServerKey, EncryptedRow, Objective, ServerKey, decrypt_prediction, encrypt_row,
};
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
#[command(about = "Benchmark of the encrypted pipeline on a shipped model")]
struct Args {
    /// Print only the JSON report, no progress lines.
    #[arg(long)]
    json: bool,
    /// The model: a shipped one (breast-cancer, wine, diabetes) or an import-format fixture.
    #[arg(long, value_name = "ID", default_value = BREAST_CANCER.id, value_parser = fixture)]
    model: Fixture,
    /// How many test rows to encrypt and evaluate (after one warm-up run).
    #[arg(long, value_name = "N", default_value_t = 20)]
    rows: usize,
    /// Write the client spec, the test rows and the clear model's predictions to DIR, and stop.
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
}

fn fixture(id: &str) -> Result<Fixture, String> {
    SHIPPED
        .into_iter()
        .chain(FORMATS)
        .chain(LINEAR)
        .chain(NETWORKS)
        .find(|f| f.id == id)
        .ok_or_else(|| format!("unknown model {id}"))
}

/// Progress lines on stderr, silenced by `--json`.
struct Progress {
    quiet: bool,
}

impl Progress {
    fn say(&self, line: String) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let progress = Progress { quiet: args.json };
    let fixture = args.model;

    let compiled = fixture.compile_any()?;
    let model = fixture.import_any()?;
    let (rows, targets) = fixture.test_rows()?;
    progress.say(format!(
        "compiled {} ({}): {:?}",
        fixture.id,
        model.family(),
        compiled.cost()
    ));
    if let Some(dir) = args.export {
        return export(&dir, &compiled, &rows);
    }

    let quality = Quality::measure(&model, &compiled, &rows, &targets)?;
    let keys = Keys::generate(&progress)?;
    let count = args.rows.clamp(1, rows.len());
    let plan = compiled.plan();
    let runs = run_rows(&compiled, &plan, &keys, &rows[..count], &rows[0], &progress)?;
    println!("{}", report(fixture, &model, &compiled, &quality, &keys, &runs));
    if runs.exact != count {
        bail!("{} of {count} rows were not exact", count - runs.exact);
    }
    Ok(())
}

/// For the wasm timings and the browser tests: the client spec, the test rows, and what the
/// clear quantized model says about each row (which the browser must reproduce).
fn export(dir: &Path, compiled: &Compiled, rows: &[Vec<f64>]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("spec.json"), compiled.spec().to_json())?;
    std::fs::write(dir.join("rows.json"), serde_json::to_string(rows)?)?;
    let expected = rows
        .iter()
        .map(|row| Ok(json!({ "features": row, "prediction": compiled.predict_clear(row)? })))
        .collect::<anyhow::Result<Vec<_>>>()?;
    std::fs::write(dir.join("expected.json"), serde_json::to_string(&expected)?)?;
    Ok(())
}

/// Quality against the true targets: accuracy for classifiers, mean absolute error for
/// regressors.
struct Quality {
    classifier: bool,
    float: f64,
    quantized: f64,
}

impl Quality {
    fn measure(model: &ImportedModel, compiled: &Compiled, rows: &[Vec<f64>], targets: &[f64]) -> anyhow::Result<Self> {
        let classifier = model.objective() != Objective::RegSquaredError;
        let (mut float_score, mut quantized_score) = (0.0, 0.0);
        for (row, target) in rows.iter().zip(targets) {
            let float = model.predict(row);
            let quantized = compiled.predict_clear(row)?;
            if classifier {
                float_score += f64::from(u8::from(argmax(&float) == *target as usize));
                quantized_score += f64::from(u8::from(argmax(quantized.class_scores()) == *target as usize));
            } else {
                float_score += (float[0] - target).abs();
                quantized_score += (quantized.value.unwrap_or_default() - target).abs();
            }
        }
        let n = rows.len() as f64;
        Ok(Self {
            classifier,
            float: float_score / n,
            quantized: quantized_score / n,
        })
    }
}

/// A fresh key pair, the server side as it would receive it (validated and decompressed).
struct Keys {
    client: ClientKey,
    server: ServerKey,
    keygen_s: f64,
    compressed_bytes: usize,
}

impl Keys {
    fn generate(progress: &Progress) -> anyhow::Result<Self> {
        let start = Instant::now();
        let client = ClientKey::generate();
        let compressed = client.compressed_server_key();
        let keygen_s = start.elapsed().as_secs_f64();
        let compressed_bytes = compressed.to_bytes();
        progress.say(format!(
            "keygen {keygen_s:.2} s, compressed server key {} bytes",
            compressed_bytes.len()
        ));
        let start = Instant::now();
        let server = CompressedServerKey::from_bytes(&compressed_bytes)?.decompress();
        progress.say(format!(
            "server key validated and decompressed in {:.2} s",
            start.elapsed().as_secs_f64()
        ));
        Ok(Self {
            client,
            server,
            keygen_s,
            compressed_bytes: compressed_bytes.len(),
        })
    }
}

/// One row through the whole pipeline: encrypt, upload, evaluate, download, decrypt.
struct RowRun {
    exact: bool,
    evaluate_s: f64,
    encrypt_s: f64,
    decrypt_s: f64,
    bootstraps: usize,
    input_bytes: usize,
    output_bytes: usize,
}

/// The evaluation's time is the server's work alone: the row is read before it, the result
/// written after.
fn run_row(compiled: &Compiled, plan: &Plan, keys: &Keys, row: &[f64]) -> anyhow::Result<(RowRun, Vec<u64>, Vec<u64>)> {
    let spec = compiled.spec();
    let t = Instant::now();
    let encrypted = encrypt_row(spec, &keys.client, row)?;
    let upload = encrypted.to_bytes();
    let encrypt_s = t.elapsed().as_secs_f64();
    let received = EncryptedRow::from_bytes(&upload, plan.row_shape())?;
    let (output, stats) = plan.evaluate_until(&keys.server, &received, None)?;
    let download = output.to_bytes();
    let t = Instant::now();
    let prediction = decrypt_prediction(spec, &keys.client, &download)?;
    let decrypt_s = t.elapsed().as_secs_f64();
    let expected = compiled.predict_clear(row)?.raw;
    let run = RowRun {
        exact: prediction.raw == expected,
        evaluate_s: stats.seconds,
        encrypt_s,
        decrypt_s,
        bootstraps: stats.bootstraps,
        input_bytes: upload.len(),
        output_bytes: download.len(),
    };
    Ok((run, expected, prediction.raw))
}

/// What the timed rows measured; sizes and bootstraps are the last row's.
#[derive(Default)]
struct Runs {
    exact: usize,
    latencies: Vec<f64>,
    encrypt_s: Vec<f64>,
    decrypt_s: Vec<f64>,
    bootstraps: usize,
    input_bytes: usize,
    output_bytes: usize,
}

/// Runs `warm_up` once untimed, then every row of `rows`.
fn run_rows(
    compiled: &Compiled,
    plan: &Plan,
    keys: &Keys,
    rows: &[Vec<f64>],
    warm_up: &[f64],
    progress: &Progress,
) -> anyhow::Result<Runs> {
    run_row(compiled, plan, keys, warm_up)?;
    let mut runs = Runs::default();
    for (i, row) in rows.iter().enumerate() {
        let (run, expected, got) = run_row(compiled, plan, keys, row)?;
        runs.exact += usize::from(run.exact);
        runs.latencies.push(run.evaluate_s);
        runs.encrypt_s.push(run.encrypt_s);
        runs.decrypt_s.push(run.decrypt_s);
        runs.bootstraps = run.bootstraps;
        runs.input_bytes = run.input_bytes;
        runs.output_bytes = run.output_bytes;
        progress.say(format!(
            "row {}: {:.3} s, {} bootstraps, {} (expected {expected:?}, got {got:?})",
            i + 1,
            run.evaluate_s,
            run.bootstraps,
            if run.exact { "exact" } else { "MISMATCH" },
        ));
    }
    Ok(runs)
}

/// The last line of the output; README documents its fields.
fn report(
    fixture: Fixture,
    model: &ImportedModel,
    compiled: &Compiled,
    quality: &Quality,
    keys: &Keys,
    runs: &Runs,
) -> serde_json::Value {
    let classifier = quality.classifier;
    let cost = compiled.cost();
    json!({
        "model": fixture.id,
        "family": model.family(),
        "median_latency_s": median(&runs.latencies),
        "p_max_latency_s": runs.latencies.iter().copied().fold(0.0, f64::max),
        "pbs_per_inference": runs.bootstraps,
        "predicted_pbs": cost.bootstraps,
        "exact_rows": runs.exact,
        "total_rows": runs.latencies.len(),
        "accuracy_quantized": classifier.then_some(quality.quantized),
        "accuracy_float": classifier.then_some(quality.float),
        "mae_quantized": (!classifier).then_some(quality.quantized),
        "mae_float": (!classifier).then_some(quality.float),
        "keygen_s": keys.keygen_s,
        "compressed_server_key_bytes": keys.compressed_bytes,
        "input_bytes": runs.input_bytes,
        "output_bytes": runs.output_bytes,
        "encrypt_median_s": median(&runs.encrypt_s),
        "decrypt_median_s": median(&runs.decrypt_s),
        "output_bits": cost.output_bits,
        "input_bits": cost.input_bits,
        "input_ciphertexts": cost.ciphertexts,
        "predicted_one_core_ms": cost.predicted_millis,
        "target_met": compiled.quality().target_met,
        "threads": rayon::current_num_threads(),
    })
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}
