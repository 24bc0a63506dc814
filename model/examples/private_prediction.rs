// A private prediction, every side on one machine: the model owner compiles a shipped model,
// the client encrypts a row, the server evaluates the model on ciphertexts without the secret
// key, and the client decrypts the answer: exactly what the clear quantized model computes.
//
//     cargo run --release -p blindfold-model --example private_prediction

use blindfold_model::compiler::fixtures::BREAST_CANCER;
use blindfold_model::{
    ClientKey, CompileOptions, CompressedServerKey, Dataset, EncryptedRow, ModelError, compile, decrypt_prediction,
    encrypt_row, evaluate, import_model,
};

fn main() -> Result<(), ModelError> {
    // Model owner: import the model file (here XGBoost JSON; the format is read from the
    // content) and compile it with calibration rows into a public spec and a private plan.
    let (format, ensemble) = import_model(BREAST_CANCER.model)?;
    let calibration = Dataset::from_csv(BREAST_CANCER.train_csv)?;
    let options = CompileOptions {
        labels: Some(BREAST_CANCER.labels.iter().map(|l| l.to_string()).collect()),
        ..CompileOptions::default()
    };
    let compiled = compile(&ensemble, &calibration, &options)?;
    let (spec, plan) = (&compiled.spec, &compiled.plan);
    println!(
        "compiled the {format} model ({} trees): {}-bit inputs, {} bootstraps per prediction",
        ensemble.trees.len(),
        compiled.report.input_bits,
        compiled.report.bootstraps
    );

    // Client: a secret key that never leaves it, and the public evaluation key it uploads once.
    let client_key = ClientKey::generate();
    let key_upload = client_key.compressed_server_key().to_bytes();

    // Server: reads the uploaded key (untrusted bytes: size-limited and checked against the
    // parameters) and expands it.
    let server_key = CompressedServerKey::from_bytes(&key_upload)?.decompress();

    // Client: encrypts one row of features against the spec.
    let (rows, _targets) = BREAST_CANCER.test_rows()?;
    let row = &rows[0];
    let row_upload = encrypt_row(spec, &client_key, row)?.to_bytes();
    println!(
        "encrypted a row of {} features: {} ciphertexts, {} bytes",
        row.len(),
        spec.input_ciphertexts(),
        row_upload.len()
    );

    // Server: evaluates the plan on the ciphertexts; it never sees a feature or the result.
    let received = EncryptedRow::from_bytes(&row_upload, plan.input.ciphertexts())?;
    let (result, stats) = evaluate(plan, &server_key, &received)?;
    let result_download = result.to_bytes();
    println!("evaluated {} bootstraps in {:.2} s", stats.bootstraps, stats.seconds);

    // Client: decrypts and decodes the result.
    let prediction = decrypt_prediction(spec, &client_key, &result_download)?;
    let class = prediction.class.as_deref().unwrap_or_default();
    println!("prediction: {class} (probabilities {:?})", prediction.probabilities);

    // The encrypted run computes the quantized model exactly.
    let expected = compiled.quantized.raw_outputs(&spec.quantize_row(row)?);
    assert_eq!(prediction.raw, expected);
    Ok(())
}
