//! The encrypted pipeline against the clear quantized model, with real TFHE keys.

use std::sync::LazyLock;

#[path = "fhe/fuzz.rs"]
mod fuzz;

use blindfold_model::compiler::compile::linear::{CompiledLinear, raw_values};
use blindfold_model::compiler::family::Compiled;
use blindfold_model::compiler::fixtures::{
    BREAST_CANCER, DIABETES, FORMATS, Fixture, LINEAR, SKLEARN_LOGISTIC_REGRESSION, WINE,
};
use blindfold_model::{
    ClientKey, CompiledModel, CompressedServerKey, EncryptedOutput, EncryptedRow, ModelError, ServerKey,
    decrypt_prediction, encrypt_row, evaluate,
};

struct Keys {
    client: ClientKey,
    server: ServerKey,
    compressed: Vec<u8>,
}

/// One key pair for the whole test binary: key generation is the slow part of set-up.
static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let client = ClientKey::generate();
    let compressed = client.compressed_server_key().to_bytes();
    let server = CompressedServerKey::from_bytes(&compressed)
        .expect("own key is valid")
        .decompress();
    Keys {
        client,
        server,
        compressed,
    }
});

/// Encrypts, evaluates and decrypts `rows`, asserting every result equals the clear quantized
/// model's output exactly.
fn assert_exact(fixture: &Fixture, compiled: &CompiledModel, rows: &[Vec<f64>]) {
    let keys = &*KEYS;
    for (i, row) in rows.iter().enumerate() {
        let upload = encrypt_row(&compiled.spec, &keys.client, row).unwrap().to_bytes();
        let received = EncryptedRow::from_bytes(&upload, compiled.plan.input.ciphertexts()).unwrap();
        let (output, stats) = evaluate(&compiled.plan, &keys.server, &received).unwrap();
        assert_eq!(
            stats.bootstraps, compiled.report.bootstraps,
            "the compiler predicts the cost"
        );
        let result = output.to_bytes();
        // Compact blocks: ~1.4 KB each instead of 16 KB.
        let blocks: usize = compiled.spec.outputs.iter().map(|o| o.blocks).sum();
        assert!(
            result.len() <= 1500 * blocks,
            "{} bytes for {blocks} blocks",
            result.len()
        );
        let prediction = decrypt_prediction(&compiled.spec, &keys.client, &result).unwrap();
        let levels = compiled.spec.quantize_row(row).unwrap();
        let expected = compiled.quantized.raw_outputs(&levels);
        assert_eq!(prediction.raw, expected, "{} row {i}", fixture.id);
        assert_eq!(prediction, compiled.spec.decode(&expected).unwrap());
    }
}

#[test]
fn breast_cancer_is_exact_on_every_test_row() {
    let compiled = BREAST_CANCER.compile().unwrap();
    let (rows, _) = BREAST_CANCER.test_rows().unwrap();
    assert_eq!(rows.len(), 114);
    assert_exact(&BREAST_CANCER, &compiled, &rows);
    // What travels: a row of one 8-byte body per thermometer bit, a result under 4 KB.
    let row = encrypt_row(&compiled.spec, &KEYS.client, &rows[0]).unwrap();
    assert_eq!(row.ciphertexts(), compiled.spec.input_ciphertexts());
    assert!(row.to_bytes().len() <= 8 * row.ciphertexts() + 256);
    let received = EncryptedRow::from_bytes(&row.to_bytes(), compiled.plan.input.ciphertexts()).unwrap();
    let (output, _) = evaluate(&compiled.plan, &KEYS.server, &received).unwrap();
    let result = output.to_bytes().len();
    eprintln!(
        "breast cancer: row {} bytes, result {result} bytes",
        row.to_bytes().len()
    );
    assert!(result <= 4096, "{result} bytes");
}

#[test]
fn multiclass_wine_is_exact() {
    let compiled = WINE.compile().unwrap();
    assert_eq!(compiled.spec.outputs.len(), 3);
    let (rows, _) = WINE.test_rows().unwrap();
    assert_exact(&WINE, &compiled, &rows[..10]);
}

#[test]
fn regression_diabetes_is_exact() {
    let compiled = DIABETES.compile().unwrap();
    let (rows, _) = DIABETES.test_rows().unwrap();
    assert_exact(&DIABETES, &compiled, &rows[..10]);
}

/// One model per import format and library (LightGBM, scikit-learn through ONNX, XGBoost
/// UBJSON), under the same key: exact on ten test rows each.
#[test]
fn every_import_format_is_exact() {
    let mut gates = 0;
    for fixture in FORMATS {
        let compiled = fixture.compile().unwrap();
        gates += compiled.report.gates;
        let (rows, _) = fixture.test_rows().unwrap();
        assert_exact(&fixture, &compiled, &rows[..10]);
    }
    // Depth-4 trees need gate bits: lookups that mix keyswitched gates with small-key inputs.
    assert!(gates > 0, "no fixture exercises gates");
}

#[test]
fn malformed_and_mismatched_ciphertexts_are_errors() {
    let keys = &*KEYS;
    let compiled = BREAST_CANCER.compile().unwrap();
    let wine = WINE.compile().unwrap();
    let (rows, _) = BREAST_CANCER.test_rows().unwrap();
    let count = compiled.plan.input.ciphertexts();
    let upload = encrypt_row(&compiled.spec, &keys.client, &rows[0]).unwrap().to_bytes();

    let truncated = EncryptedRow::from_bytes(&upload[..upload.len() / 2], count);
    assert!(matches!(truncated, Err(ModelError::Malformed { .. })), "{truncated:?}");
    let garbage = EncryptedRow::from_bytes(b"definitely not a ciphertext", count);
    assert!(matches!(garbage, Err(ModelError::Malformed { .. })), "{garbage:?}");
    let mut oversized = upload.clone();
    oversized.resize(upload.len() + 1_000_000, 0);
    assert!(matches!(
        EncryptedRow::from_bytes(&oversized, count),
        Err(ModelError::TooLarge { .. })
    ));

    // A row encrypted for another model has the wrong shape for this plan.
    let (wine_rows, _) = WINE.test_rows().unwrap();
    let wine_upload = encrypt_row(&wine.spec, &keys.client, &wine_rows[0]).unwrap().to_bytes();
    let mismatched = EncryptedRow::from_bytes(&wine_upload, count);
    assert!(
        matches!(mismatched, Err(ModelError::WrongParameters { .. })),
        "{mismatched:?}"
    );

    // A key, not a ciphertext.
    let wrong_type = EncryptedRow::from_bytes(&keys.client.to_bytes(), count);
    assert!(
        matches!(
            wrong_type,
            Err(ModelError::Malformed { .. }) | Err(ModelError::TooLarge { .. })
        ),
        "{wrong_type:?}"
    );

    // Results: truncated, or of another model's shape.
    let received = EncryptedRow::from_bytes(&upload, count).unwrap();
    let (output, _) = evaluate(&compiled.plan, &keys.server, &received).unwrap();
    let bytes = output.to_bytes();
    let truncated = EncryptedOutput::from_bytes(&bytes[..bytes.len() - 10], &compiled.spec);
    assert!(matches!(truncated, Err(ModelError::Malformed { .. })), "{truncated:?}");
    let mismatched = EncryptedOutput::from_bytes(&bytes, &wine.spec);
    assert!(
        matches!(mismatched, Err(ModelError::WrongParameters { .. })),
        "{mismatched:?}"
    );
}

#[test]
fn non_finite_and_misshapen_rows_are_refused_before_encryption() {
    let keys = &*KEYS;
    let compiled = BREAST_CANCER.compile().unwrap();
    let (rows, _) = BREAST_CANCER.test_rows().unwrap();
    let mut nan = rows[0].clone();
    nan[3] = f64::NAN;
    assert!(matches!(
        encrypt_row(&compiled.spec, &keys.client, &nan),
        Err(ModelError::InvalidInput(_))
    ));
    let mut infinite = rows[0].clone();
    infinite[0] = f64::INFINITY;
    assert!(matches!(
        encrypt_row(&compiled.spec, &keys.client, &infinite),
        Err(ModelError::InvalidInput(_))
    ));
    // A finite value however far beyond the calibration data is a row like any other.
    let mut huge = rows[0].clone();
    huge[0] = 1e9;
    assert!(encrypt_row(&compiled.spec, &keys.client, &huge).is_ok());
    assert!(matches!(
        encrypt_row(&compiled.spec, &keys.client, &rows[0][..29]),
        Err(ModelError::InvalidInput(_))
    ));
}

#[test]
fn keys_round_trip_and_bad_keys_are_refused() {
    let keys = &*KEYS;
    assert!(
        keys.compressed.len() < 31_000_000,
        "compressed server key is {} bytes",
        keys.compressed.len()
    );
    let truncated = CompressedServerKey::from_bytes(&keys.compressed[..keys.compressed.len() / 3]);
    assert!(matches!(truncated, Err(ModelError::Malformed { .. })));
    let not_a_key = CompressedServerKey::from_bytes(&keys.client.to_bytes());
    assert!(matches!(not_a_key, Err(ModelError::Malformed { .. })));
    let restored = ClientKey::from_bytes(&keys.client.to_bytes()).unwrap();
    assert_eq!(restored.to_bytes(), keys.client.to_bytes());
    assert!(matches!(
        ClientKey::from_bytes(b"nope"),
        Err(ModelError::Malformed { .. })
    ));
    assert_eq!(format!("{:?}", keys.client), "ClientKey(<secret>)");
}

/// A linear fixture's model, compiled on its training rows.
fn compiled_linear(fixture: &Fixture) -> CompiledLinear {
    match fixture.compile_any().unwrap() {
        Compiled::Linear(compiled) => compiled,
        _ => panic!("{}: not a linear model", fixture.id),
    }
}

#[test]
fn linear_models_are_exact_on_every_test_row() {
    let keys = &*KEYS;
    for fixture in LINEAR {
        let compiled = compiled_linear(&fixture);
        let (rows, _) = fixture.test_rows().unwrap();
        for (i, row) in rows.iter().enumerate() {
            let upload = encrypt_row(&compiled.spec, &keys.client, row).unwrap().to_bytes();
            let received = EncryptedRow::from_bytes(&upload, compiled.spec.input_ciphertexts()).unwrap();
            let result = compiled.plan.evaluate(&received).unwrap().to_bytes();
            if i == 0 {
                println!(
                    "{}: {} input bits, {} message bits, row {} bytes, result {} bytes",
                    fixture.id,
                    compiled.report.input_bits,
                    compiled.report.message_bits,
                    upload.len(),
                    result.len()
                );
            }
            // One ciphertext of 8 bytes per feature; per output, 919 coefficients of m + 11 bits.
            assert!(
                upload.len() <= 8 * row.len() + 512,
                "{}: row of {} bytes",
                fixture.id,
                upload.len()
            );
            assert!(
                result.len() <= compiled.report.result_bytes + 512,
                "{}: result of {} bytes",
                fixture.id,
                result.len()
            );
            let prediction = decrypt_prediction(&compiled.spec, &keys.client, &result).unwrap();
            let levels = compiled.spec.quantize_row(row).unwrap();
            let expected = raw_values(&compiled.plan, &levels).unwrap();
            assert_eq!(prediction.raw, expected, "{} row {i}", fixture.id);
            assert_eq!(prediction, compiled.predict_clear(row).unwrap());
        }
    }
}

#[test]
fn a_logistic_regression_row_and_result_fit_in_4_kb() {
    let keys = &*KEYS;
    let compiled = compiled_linear(&SKLEARN_LOGISTIC_REGRESSION);
    let (rows, _) = SKLEARN_LOGISTIC_REGRESSION.test_rows().unwrap();
    let upload = encrypt_row(&compiled.spec, &keys.client, &rows[0]).unwrap().to_bytes();
    let received = EncryptedRow::from_bytes(&upload, compiled.spec.input_ciphertexts()).unwrap();
    let result = compiled.plan.evaluate(&received).unwrap().to_bytes();
    assert!(
        upload.len() <= 4000 && result.len() <= 4000,
        "row {} bytes, result {} bytes",
        upload.len(),
        result.len()
    );
}

/// The exactness argument of `params::LinearEncoding`, on real ciphertexts at its extremes:
/// weights whose absolute values sum to just within the bound, and rows that take every output
/// to the ends of the message space, decrypt exactly; the bound's constants are the parameter
/// set's.
#[test]
fn linear_results_decrypt_within_the_bound() {
    use blindfold_model::params::{
        InputEncoding, LinearEncoding, PARAMETERS, SMALL_LWE_DIMENSION, SMALL_NOISE_BOUND_LOG2,
    };
    use blindfold_model::server::linear::{LINEAR_PLAN_FORMAT_VERSION, LinearPlan, output_range};
    use blindfold_model::spec::quantize::FeatureQuantizer;
    use blindfold_model::spec::{ClientSpec, OutputDecoding, SPEC_FORMAT_VERSION};
    use tfhe::core_crypto::prelude::DynamicDistribution;

    assert_eq!(PARAMETERS.lwe_dimension.0, SMALL_LWE_DIMENSION);
    let DynamicDistribution::TUniform(noise) = PARAMETERS.lwe_noise_distribution else {
        panic!("TUniform noise");
    };
    assert_eq!(noise.bound_log2(), SMALL_NOISE_BOUND_LOG2);

    let keys = &*KEYS;
    for message_bits in [4u32, 10, 17] {
        let encoding = LinearEncoding::new(message_bits);
        // The largest weight total the bound admits, spread over 4 features of 2 levels each.
        let half = 1i64 << (message_bits - 1);
        let largest = (1u128..1 << 20).rev().find(|&n| encoding.admits(0, 0, n)).unwrap_or(0);
        assert!(!encoding.admits(0, 0, largest + 1));
        // Four weights of one size w (or one weight, when the bound admits less than four), and
        // constants that take output 0 down to -2^(m-1) and output 1 up to 2^(m-1) - 1.
        let w = ((largest as i64) / 4).min((2 * half - 1) / 4);
        let weights = if w >= 1 {
            vec![vec![w, w, -w, -w], vec![-w, -w, w, w]]
        } else {
            vec![vec![1, 0, 0, 0], vec![-1, 0, 0, 0]]
        };
        let levels = vec![2u64; 4];
        let (low, _) = output_range(&weights[0], 0, &levels).unwrap();
        let (_, high) = output_range(&weights[1], 0, &levels).unwrap();
        let constants = vec![-half - low, half - 1 - high];
        let plan = LinearPlan {
            format_version: LINEAR_PLAN_FORMAT_VERSION,
            encryption: InputEncoding::Linear(encoding.clone()),
            levels: levels.clone(),
            weights,
            constants,
        };
        plan.check().unwrap();
        let feature = |j: usize| FeatureQuantizer::uniform(&format!("x{j}"), 0.0, 1.0, 2, (0.0, 1.0)).unwrap();
        let output = OutputDecoding {
            blocks: 1,
            max_value: (1u64 << message_bits) - 1,
            scale: 1.0,
            offset: -(half as f64),
        };
        let spec = ClientSpec {
            format_version: SPEC_FORMAT_VERSION,
            features: (0..4).map(feature).collect(),
            objective: blindfold_model::Objective::MultiSoftprob { classes: 2 },
            labels: vec!["a".into(), "b".into()],
            outputs: vec![output.clone(), output],
            encryption: InputEncoding::Linear(encoding),
        };
        let spec = ClientSpec::from_json(&spec.to_json()).unwrap();
        for bits in 0..16u32 {
            let row: Vec<f64> = (0..4).map(|j| f64::from((bits >> j) & 1)).collect();
            for _ in 0..8 {
                let upload = encrypt_row(&spec, &keys.client, &row).unwrap();
                let result = plan.evaluate(&upload).unwrap().to_bytes();
                let prediction = decrypt_prediction(&spec, &keys.client, &result).unwrap();
                let levels = spec.quantize_row(&row).unwrap();
                assert_eq!(
                    prediction.raw,
                    raw_values(&plan, &levels).unwrap(),
                    "m = {message_bits}, row {row:?}"
                );
            }
        }
    }
}

/// A network fixture's model, compiled on its training rows.
fn compiled_network(fixture: &Fixture) -> blindfold_model::compiler::compile::network::CompiledNetwork {
    match fixture.compile_any().unwrap() {
        Compiled::Network(compiled) => compiled,
        _ => panic!("{}: not a network", fixture.id),
    }
}

/// The MLPs of one hidden layer, encrypted under the big key, decrypt to exactly the clear
/// quantized network's outputs, with the plan's bootstraps (two reads and one table per output
/// for each hidden neuron); a row under the small key is refused.
#[test]
fn networks_are_exact_on_encrypted_rows() {
    use blindfold_model::compiler::compile::network::raw_values;
    use blindfold_model::compiler::fixtures::{SKLEARN_MLP_CLASSIFIER, SKLEARN_MLP_REGRESSOR};

    let keys = &*KEYS;
    for fixture in [SKLEARN_MLP_CLASSIFIER, SKLEARN_MLP_REGRESSOR] {
        let compiled = compiled_network(&fixture);
        let plan = blindfold_model::server::Plan::Network(compiled.plan.clone());
        let (rows, _) = fixture.test_rows().unwrap();
        for (i, row) in rows.iter().take(3).enumerate() {
            let upload = encrypt_row(&compiled.spec, &keys.client, row).unwrap().to_bytes();
            assert!(upload.len() <= 8 * row.len() + 512, "row of {} bytes", upload.len());
            let received = EncryptedRow::from_bytes(&upload, plan.row_shape()).unwrap();
            let (output, stats) = plan.evaluate_until(&keys.server, &received, None).unwrap();
            assert_eq!(stats.bootstraps, compiled.plan.bootstraps());
            let result = output.to_bytes();
            println!(
                "{} row {i}: {} bootstraps in {:.3} s, row {} bytes, result {} bytes",
                fixture.id,
                stats.bootstraps,
                stats.seconds,
                upload.len(),
                result.len()
            );
            let prediction = decrypt_prediction(&compiled.spec, &keys.client, &result).unwrap();
            let levels = compiled.spec.quantize_row(row).unwrap();
            assert_eq!(
                prediction.raw,
                raw_values(&compiled.plan, &levels).unwrap(),
                "{} row {i}",
                fixture.id
            );
        }
        // The same row under the small key (as a linear model's): refused when read.
        let mut small = compiled.spec.clone();
        small.encryption =
            blindfold_model::params::InputEncoding::Linear(blindfold_model::params::LinearEncoding::new(10));
        let upload = encrypt_row(&small, &keys.client, &rows[0]).unwrap().to_bytes();
        assert!(EncryptedRow::from_bytes(&upload, plan.row_shape()).is_err());
    }
}
