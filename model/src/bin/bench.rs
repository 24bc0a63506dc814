//! Benchmark of the encrypted pipeline on a shipped model.
//!
//! `cargo run --release -p blindfold-model --bin bench -- [--json] [--model breast-cancer] [--rows 20]`
//!
//! Prints progress lines, then one JSON object on the last line: server evaluation latency
//! (median over the rows after one warm-up), bootstraps per inference, exactness against the
//! clear quantized model, accuracy (quantized vs float XGBoost), key generation time and sizes.

use std::time::Instant;

use anyhow::{Context, bail};
use blindfold_model::fixtures::{BREAST_CANCER, DIABETES, Fixture, WINE};
use blindfold_model::{ClientKey, Objective, decrypt_prediction, encrypt_row, evaluate, import_xgboost_json};

fn main() -> anyhow::Result<()> {
    let mut json_only = false;
    let mut model = BREAST_CANCER.id.to_owned();
    let mut rows_wanted = 20usize;
    let mut export: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json_only = true,
            "--model" => model = args.next().context("--model needs a value")?,
            "--rows" => rows_wanted = args.next().context("--rows needs a value")?.parse()?,
            "--export" => export = Some(args.next().context("--export needs a directory")?.into()),
            other => bail!("unknown argument {other} (expected --json, --model ID, --rows N, --export DIR)"),
        }
    }
    let fixture: Fixture = [BREAST_CANCER, WINE, DIABETES]
        .into_iter()
        .find(|f| f.id == model)
        .with_context(|| format!("unknown model {model}"))?;
    let say = |line: String| {
        if !json_only {
            eprintln!("{line}");
        }
    };

    let compiled = fixture.compile()?;
    let ensemble = import_xgboost_json(fixture.model_json)?;
    let (rows, targets) = fixture.test_rows()?;
    say(format!("compiled {}: {:?}", fixture.id, compiled.report));
    if let Some(dir) = export {
        // For the wasm timings and the browser tests: the client spec, the test rows, and what
        // the clear quantized model says about each row (which the browser must reproduce).
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("spec.json"), compiled.spec.to_json())?;
        std::fs::write(dir.join("rows.json"), serde_json::to_string(&rows)?)?;
        let expected = rows
            .iter()
            .map(|row| {
                let levels = compiled.spec.quantize_row(row)?;
                let prediction = compiled.spec.decode(&compiled.quantized.raw_outputs(&levels))?;
                Ok(serde_json::json!({ "features": row, "prediction": prediction }))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        std::fs::write(dir.join("expected.json"), serde_json::to_string(&expected)?)?;
        return Ok(());
    }

    // Quality against the true targets: accuracy for classifiers, mean absolute error for
    // regressors (the other pair is null).
    let (mut float_score, mut quantized_score) = (0.0, 0.0);
    for (row, target) in rows.iter().zip(&targets) {
        let float = ensemble.predict(row);
        let levels = compiled.spec.quantize_row(row)?;
        let quantized = compiled.spec.decode(&compiled.quantized.raw_outputs(&levels))?;
        if ensemble.objective == Objective::RegSquaredError {
            float_score += (float[0] - target).abs();
            quantized_score += (quantized.value.unwrap_or_default() - target).abs();
        } else {
            float_score += f64::from(u8::from(argmax(&float) == *target as usize));
            quantized_score += f64::from(u8::from(argmax(&quantized.probabilities) == *target as usize));
        }
    }
    let n = rows.len() as f64;
    let classifier = ensemble.objective != Objective::RegSquaredError;
    let (float_score, quantized_score) = (float_score / n, quantized_score / n);

    let start = Instant::now();
    let client_key = ClientKey::generate();
    let compressed = client_key.compressed_server_key();
    let keygen_s = start.elapsed().as_secs_f64();
    let compressed_bytes = compressed.to_bytes();
    say(format!(
        "keygen {keygen_s:.2} s, compressed server key {} bytes",
        compressed_bytes.len()
    ));
    let start = Instant::now();
    let server_key = blindfold_model::CompressedServerKey::from_bytes(&compressed_bytes)?.decompress();
    say(format!(
        "server key validated and decompressed in {:.2} s",
        start.elapsed().as_secs_f64()
    ));

    let count = rows_wanted.clamp(1, rows.len());
    let mut latencies = Vec::new();
    let (mut exact, mut input_bytes, mut output_bytes, mut bootstraps) = (0usize, 0usize, 0usize, 0usize);
    let mut encrypt_s = Vec::new();
    let mut decrypt_s = Vec::new();
    // Row 0 twice: the first run is the warm-up and is not timed.
    for (i, row) in std::iter::once(&rows[0]).chain(rows.iter().take(count)).enumerate() {
        let t = Instant::now();
        let encrypted = encrypt_row(&compiled.spec, &client_key, row)?;
        let upload = encrypted.to_bytes();
        let t_encrypt = t.elapsed().as_secs_f64();
        let received = blindfold_model::EncryptedRow::from_bytes(&upload, compiled.plan.input.ciphertexts())?;
        let (output, stats) = evaluate(&compiled.plan, &server_key, &received)?;
        let download = output.to_bytes();
        let t = Instant::now();
        let prediction = decrypt_prediction(&compiled.spec, &client_key, &download)?;
        let t_decrypt = t.elapsed().as_secs_f64();
        let expected = compiled.quantized.raw_outputs(&compiled.spec.quantize_row(row)?);
        if i == 0 {
            continue;
        }
        latencies.push(stats.seconds);
        encrypt_s.push(t_encrypt);
        decrypt_s.push(t_decrypt);
        exact += usize::from(prediction.raw == expected);
        input_bytes = upload.len();
        output_bytes = download.len();
        bootstraps = stats.bootstraps;
        say(format!(
            "row {i}: {:.3} s, {} bootstraps, {} (expected {:?}, got {:?})",
            stats.seconds,
            stats.bootstraps,
            if prediction.raw == expected {
                "exact"
            } else {
                "MISMATCH"
            },
            expected,
            prediction.raw
        ));
    }

    let report = serde_json::json!({
        "model": fixture.id,
        "median_latency_s": median(&mut latencies),
        "p_max_latency_s": latencies.iter().copied().fold(0.0, f64::max),
        "pbs_per_inference": bootstraps,
        "predicted_pbs": compiled.report.bootstraps,
        "exact_rows": exact,
        "total_rows": count,
        "accuracy_quantized": classifier.then_some(quantized_score),
        "accuracy_float": classifier.then_some(float_score),
        "mae_quantized": (!classifier).then_some(quantized_score),
        "mae_float": (!classifier).then_some(float_score),
        "keygen_s": keygen_s,
        "compressed_server_key_bytes": compressed_bytes.len(),
        "input_bytes": input_bytes,
        "output_bytes": output_bytes,
        "encrypt_median_s": median(&mut encrypt_s),
        "decrypt_median_s": median(&mut decrypt_s),
        "leaf_bits": compiled.report.leaf_bits,
        "threads": rayon::current_num_threads(),
    });
    println!("{report}");
    if exact != count {
        bail!("{} of {count} rows were not exact", count - exact);
    }
    Ok(())
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
