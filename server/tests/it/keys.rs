//! One server key per user serves every model.

use blindfold_model::compiler::family::Compiled;
use blindfold_model::compiler::fixtures::{BREAST_CANCER, WINE};
use blindfold_model::params::PARAMETER_SET_NAME;
use blindfold_model::{decrypt_prediction, encrypt_row};
use blindfold_server::services::catalogue::ModelCatalogue;
use blindfold_server::testing::{TestApp, database_url};
use reqwest::StatusCode;
use std::time::Duration;
use tempfile::TempDir;

use crate::{KEYS, MODEL, fetch_spec, status, stored, submit_row};

#[tokio::test]
async fn one_key_serves_every_model() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 1).await;
    let wine = WINE.compile().unwrap();
    let db = blindfold_server::store::db::connect(&database_url(dir.path()).await, 1)
        .await
        .unwrap();
    ModelCatalogue::new(db)
        .install("wine", "Wine", &Compiled::Trees(wine.clone()), &[])
        .await
        .unwrap();
    let alice = app.user("alice").await;
    assert_eq!(status(alice.key_info().await), StatusCode::NOT_FOUND);
    let info = alice.upload_key(KEYS.server.clone()).await.unwrap();
    assert_eq!(info.parameter_set, PARAMETER_SET_NAME);

    // One upload, predictions on two models, each exactly the clear quantized model's.
    for (model, fixture) in [(MODEL, BREAST_CANCER), ("wine", WINE)] {
        let spec = fetch_spec(&alice, model).await;
        let compiled = fixture.compile().unwrap();
        let (rows, _) = fixture.test_rows().unwrap();
        let encrypted = encrypt_row(&spec, &KEYS.client, &rows[0]).unwrap().to_bytes();
        let job = submit_row(&alice, model, encrypted).await.unwrap();
        let job = alice.wait(&job.id, Duration::from_secs(120), |_| {}).await.unwrap();
        let result = alice.result(&job.id).await.unwrap();
        let prediction = decrypt_prediction(&spec, &KEYS.client, &result).unwrap();
        let expected = compiled.quantized.raw_outputs(&spec.quantize_row(&rows[0]).unwrap());
        assert_eq!(prediction.raw, expected, "{model}");
    }

    assert_eq!(alice.key_info().await.unwrap(), info);
    assert_eq!(stored(dir.path(), "keys/").await.len(), 1, "one key stored");
    alice.delete_key().await.unwrap();
    assert_eq!(status(alice.key_info().await), StatusCode::NOT_FOUND);
    assert!(stored(dir.path(), "keys/").await.is_empty());
    app.stop().await;
}
