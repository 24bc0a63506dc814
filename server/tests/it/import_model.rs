//! `blindfold-server import-model` adds a compiled model that the API then serves.

use std::process::Command;

use blindfold_model::fixtures::WINE;
use blindfold_server::testing::{TestApp, database_url};
use tempfile::TempDir;

#[tokio::test]
async fn an_operator_imports_a_model() {
    let data = TempDir::new().unwrap();
    let model = data.path().join("wine.json");
    let calibration = data.path().join("wine-train.csv");
    std::fs::write(&model, WINE.model_json).unwrap();
    std::fs::write(&calibration, WINE.train_csv).unwrap();
    let data_dir = data.path().join("data");

    let output = Command::new(env!("CARGO_BIN_EXE_blindfold-server"))
        .arg("import-model")
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .args(["--database-url", &database_url(&data_dir).await])
        .args([
            "--xgboost",
            model.to_str().unwrap(),
            "--calibration",
            calibration.to_str().unwrap(),
        ])
        .args([
            "--id",
            "wine",
            "--name",
            "Wine",
            "--labels",
            "barolo,grignolino,barbera",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let bad = Command::new(env!("CARGO_BIN_EXE_blindfold-server"))
        .arg("import-model")
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .args(["--database-url", &database_url(&data_dir).await])
        .args([
            "--xgboost",
            calibration.to_str().unwrap(),
            "--calibration",
            calibration.to_str().unwrap(),
        ])
        .args(["--id", "broken", "--name", "Broken"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid XGBoost model"));

    let app = TestApp::spawn(&data_dir, 0).await;
    let client = app.client();
    let models = client.models().await.unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, vec!["breast-cancer", "wine"]);
    let spec = crate::fetch_spec(&client, "wine").await;
    assert_eq!(spec.labels, vec!["barolo", "grignolino", "barbera"]);
    assert_eq!(spec.outputs.len(), 3);
    app.stop().await;
}
