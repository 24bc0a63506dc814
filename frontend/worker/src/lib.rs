//! What the crypto Web Worker exposes to JavaScript: key generation, encryption of a row and
//! decryption of a result, all with `blindfold-model`'s client API.
//!
//! Trust model: the client key is produced here, returned to the worker as bytes for IndexedDB,
//! and passed back in for each encryption or decryption; it never goes to the network. The
//! compressed server key is public and is what the worker uploads.

use blindfold_model::{ClientKey, ClientSpec, decrypt_prediction, encrypt_row};
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;

/// A fresh key pair: the secret client key (for IndexedDB only) and the public compressed
/// server key (to upload).
#[wasm_bindgen]
pub struct GeneratedKeys {
    client_key: Vec<u8>,
    server_key: Vec<u8>,
}

#[wasm_bindgen]
impl GeneratedKeys {
    /// The secret key's bytes: store them locally, never send them.
    #[wasm_bindgen(getter, js_name = clientKey)]
    pub fn client_key(&self) -> Vec<u8> {
        self.client_key.clone()
    }

    /// The compressed server key's bytes, to upload as a `Blob`.
    #[wasm_bindgen(getter, js_name = serverKey)]
    pub fn server_key(&self) -> Vec<u8> {
        self.server_key.clone()
    }
}

/// Starts the threaded module's rayon pool of `n` Web Workers (a promise): the worker script
/// awaits it once, before any other call. Only in the module built with the `threads` feature.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Generates a key pair (seconds in a browser: call it from the worker). `progress`, when
/// given, is called with the fraction of the work done (0 to 1) as it goes, on this thread.
#[wasm_bindgen(js_name = generateKeys)]
pub fn generate_keys_js(progress: Option<js_sys::Function>) -> GeneratedKeys {
    generate_keys(&mut |fraction| {
        if let Some(progress) = &progress {
            // A failing callback only loses a progress report, never the keys.
            let _ = progress.call1(&JsValue::NULL, &JsValue::from_f64(fraction));
        }
    })
}

/// [`generate_keys_js`] for Rust callers.
pub fn generate_keys(progress: &mut dyn FnMut(f64)) -> GeneratedKeys {
    let client = ClientKey::generate();
    let server_key = client.compressed_server_key_with_progress(progress).to_bytes();
    GeneratedKeys {
        client_key: client.to_bytes(),
        server_key,
    }
}

/// Validates and encrypts one row of features for the model described by `spec_json`.
#[wasm_bindgen(js_name = encryptRow)]
pub fn encrypt_row_js(spec_json: &str, client_key: &[u8], features: &[f64]) -> Result<Vec<u8>, JsError> {
    encrypt(spec_json, client_key, features).map_err(|e| JsError::new(&e))
}

/// Decrypts a result; returns the prediction as JSON (`raw`, `margins`, `probabilities`,
/// `class` or `value`).
#[wasm_bindgen(js_name = decryptResult)]
pub fn decrypt_result_js(spec_json: &str, client_key: &[u8], result: &[u8]) -> Result<String, JsError> {
    decrypt(spec_json, client_key, result).map_err(|e| JsError::new(&e))
}

/// A short, stable identifier of a spec, stored with the keys made for it: keys made for an
/// older version of a model are recognised as such.
#[wasm_bindgen(js_name = specFingerprint)]
pub fn spec_fingerprint(spec_json: &str) -> String {
    hex::encode(&Sha256::digest(spec_json.as_bytes())[..16])
}

/// Encrypts a row of the spec's mid-range values under a throwaway key and discards it, so
/// that the browser's WebAssembly engine optimises the encryption code (it tiers hot code up
/// only between calls) before the user's own row is encrypted.
#[wasm_bindgen(js_name = warmUp)]
pub fn warm_up(spec_json: &str) -> Result<(), JsError> {
    let spec = ClientSpec::from_json(spec_json).map_err(|e| JsError::new(&e.to_string()))?;
    let row: Vec<f64> = spec
        .features
        .iter()
        .map(|f| (f.calibration_min + f.calibration_max) / 2.0)
        .collect();
    encrypt_row(&spec, &ClientKey::generate(), &row)
        .map(drop)
        .map_err(|e| JsError::new(&e.to_string()))
}

/// Checks that bytes are a client key of this build's parameters (for imported key files).
#[wasm_bindgen(js_name = checkClientKey)]
pub fn check_client_key(client_key: &[u8]) -> Result<(), JsError> {
    ClientKey::from_bytes(client_key)
        .map(drop)
        .map_err(|e| JsError::new(&e.to_string()))
}

pub fn encrypt(spec_json: &str, client_key: &[u8], features: &[f64]) -> Result<Vec<u8>, String> {
    let spec = ClientSpec::from_json(spec_json).map_err(|e| e.to_string())?;
    let key = ClientKey::from_bytes(client_key).map_err(|e| e.to_string())?;
    Ok(encrypt_row(&spec, &key, features)
        .map_err(|e| e.to_string())?
        .to_bytes())
}

pub fn decrypt(spec_json: &str, client_key: &[u8], result: &[u8]) -> Result<String, String> {
    let spec = ClientSpec::from_json(spec_json).map_err(|e| e.to_string())?;
    let key = ClientKey::from_bytes(client_key).map_err(|e| e.to_string())?;
    let prediction = decrypt_prediction(&spec, &key, result).map_err(|e| e.to_string())?;
    Ok(serde_json::to_string(&prediction).expect("a prediction serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use blindfold_model::compiler::fixtures::BREAST_CANCER;
    use blindfold_model::{CompressedServerKey, EncryptedRow, evaluate};

    #[test]
    fn the_worker_api_round_trips_through_a_real_evaluation() {
        let compiled = BREAST_CANCER.compile().unwrap();
        let spec_json = compiled.spec.to_json();
        let mut fractions = Vec::new();
        let keys = generate_keys(&mut |f| fractions.push(f));
        assert_eq!(fractions.last(), Some(&1.0));
        let server = CompressedServerKey::from_bytes(&keys.server_key())
            .unwrap()
            .decompress();
        let (rows, _) = BREAST_CANCER.test_rows().unwrap();

        let upload = encrypt(&spec_json, &keys.client_key(), &rows[0]).unwrap();
        let row = EncryptedRow::from_bytes(&upload, compiled.plan.input.ciphertexts()).unwrap();
        let (output, _) = evaluate(&compiled.plan, &server, &row).unwrap();
        let prediction: serde_json::Value =
            serde_json::from_str(&decrypt(&spec_json, &keys.client_key(), &output.to_bytes()).unwrap()).unwrap();
        let expected = compiled
            .quantized
            .raw_outputs(&compiled.spec.quantize_row(&rows[0]).unwrap());
        assert_eq!(prediction["raw"], serde_json::json!(expected));

        // Values far outside the calibration data are encrypted too, and the answer is the clear
        // quantized model's on the same row, which is its answer on the nearest calibrated
        // values.
        let mut outside = rows[0].clone();
        outside[0] = compiled.spec.features[0].calibration_max * 1000.0 + 1.0;
        outside[1] = compiled.spec.features[1].calibration_min - 1e6;
        assert_eq!(compiled.spec.outside_calibration(&outside).len(), 2);
        let clamped: Vec<f64> = outside
            .iter()
            .zip(&compiled.spec.features)
            .map(|(&x, f)| x.clamp(f.calibration_min, f.calibration_max))
            .collect();
        let upload = encrypt(&spec_json, &keys.client_key(), &outside).unwrap();
        let row = EncryptedRow::from_bytes(&upload, compiled.plan.input.ciphertexts()).unwrap();
        let (output, _) = evaluate(&compiled.plan, &server, &row).unwrap();
        let prediction: serde_json::Value =
            serde_json::from_str(&decrypt(&spec_json, &keys.client_key(), &output.to_bytes()).unwrap()).unwrap();
        let levels = compiled.spec.quantize_row(&outside).unwrap();
        assert_eq!(levels, compiled.spec.quantize_row(&clamped).unwrap());
        assert_eq!(
            prediction["raw"],
            serde_json::json!(compiled.quantized.raw_outputs(&levels))
        );
        assert!(encrypt(&spec_json, &keys.client_key(), &[f64::NAN; 30]).is_err());

        assert!(
            encrypt(&spec_json, &keys.client_key(), &rows[0][..3])
                .unwrap_err()
                .contains("expected 30 features")
        );
        assert!(encrypt(&spec_json, b"not a key", &rows[0]).is_err());
        assert!(ClientKey::from_bytes(&keys.client_key()).is_ok());
        assert!(ClientKey::from_bytes(&keys.server_key()).is_err());
        assert!(decrypt("{}", &keys.client_key(), &[]).is_err());
        assert_eq!(spec_fingerprint(&spec_json).len(), 32);
        assert!(warm_up(&spec_json).is_ok());
        assert_ne!(spec_fingerprint(&spec_json), spec_fingerprint("{}"));
    }
}
