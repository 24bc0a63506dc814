//! `blindfold-server import-model` adds a compiled model that the API then serves, whichever
//! library saved it; files it cannot read are refused with the reason.

use std::path::Path;
use std::process::{Command, Output};

use blindfold_model::compiler::fixtures::{Fixture, LIGHTGBM_BREAST_CANCER, SKLEARN_RANDOM_FOREST, WINE};
use blindfold_server::testing::{TestApp, database_url};
use tempfile::TempDir;

/// Runs `import-model` on `model`.
async fn import(data_dir: &Path, model: &Path, calibration: &Path, id: &str, labels: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blindfold-server"))
        .arg("import-model")
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .args(["--database-url", &database_url(data_dir).await])
        .args(["--model", model.to_str().unwrap()])
        .args(["--calibration", calibration.to_str().unwrap()])
        .args(["--id", id, "--name", id])
        .args(
            (!labels.is_empty())
                .then_some(["--labels", labels])
                .into_iter()
                .flatten(),
        )
        .output()
        .unwrap()
}

fn write_fixture(dir: &Path, fixture: &Fixture, file: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let model = dir.join(file);
    let calibration = dir.join(format!("{}-train.csv", fixture.id));
    std::fs::write(&model, fixture.model).unwrap();
    std::fs::write(&calibration, fixture.train_csv).unwrap();
    (model, calibration)
}

#[tokio::test]
async fn an_operator_imports_models_of_every_format() {
    let data = TempDir::new().unwrap();
    let data_dir = data.path().join("data");
    // The file names say nothing: the format is read from the content.
    let imports = [
        (WINE, "barolo,grignolino,barbera"),
        (LIGHTGBM_BREAST_CANCER, "malignant,benign"),
        (SKLEARN_RANDOM_FOREST, ""),
    ];
    for (fixture, labels) in imports {
        let (model, calibration) = write_fixture(data.path(), &fixture, &format!("{}.bin", fixture.id));
        let output = import(&data_dir, &model, &calibration, fixture.id, labels).await;
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }

    let (_, calibration) = write_fixture(data.path(), &WINE, "wine.json");
    let refusals = [
        (calibration.clone(), "not a model file Blindfold reads"),
        (
            write_bytes(
                data.path(),
                "poisson.txt",
                LIGHTGBM_BREAST_CANCER
                    .model_text()
                    .replacen("binary sigmoid:1", "poisson", 1)
                    .as_bytes(),
            ),
            "unsupported model: LightGBM text: objective `poisson`",
        ),
        (
            write_bytes(data.path(), "truncated.onnx", &SKLEARN_RANDOM_FOREST.model[..100]),
            "invalid model: ONNX",
        ),
    ];
    for (model, needle) in refusals {
        let bad = import(&data_dir, &model, &calibration, "broken", "").await;
        assert!(!bad.status.success());
        let stderr = String::from_utf8_lossy(&bad.stderr);
        assert!(stderr.contains(needle), "expected `{needle}` in `{stderr}`");
    }

    let app = TestApp::spawn(&data_dir, 0).await;
    let client = app.client();
    let models = client.models().await.unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "breast-cancer",
            "lightgbm-breast-cancer",
            "sklearn-random-forest",
            "wine"
        ]
    );
    let spec = crate::fetch_spec(&client, "wine").await;
    assert_eq!(spec.labels, vec!["barolo", "grignolino", "barbera"]);
    assert_eq!(spec.outputs.len(), 3);
    let forest = crate::fetch_spec(&client, "sklearn-random-forest").await;
    assert_eq!(forest.labels, vec!["class_0", "class_1"]);
    assert_eq!(forest.features.len(), 30);
    app.stop().await;
}

fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}
