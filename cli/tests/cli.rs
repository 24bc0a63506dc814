//! The `blindfold` binary and its client library against a real server: register, keygen,
//! upload-key, predict.

use std::process::{Command, Output};

use blindfold_cli::predict::{fetch_spec, predict_row};
use blindfold_model::ClientKey;
use blindfold_model::fixtures::BREAST_CANCER;
use blindfold_server::testing::{PASSWORD, TestApp};
use tempfile::TempDir;

fn blindfold(server: &str, home: &TempDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blindfold"))
        .args(args)
        .env("BLINDFOLD_SERVER", server)
        .env("BLINDFOLD_HOME", home.path())
        .env("BLINDFOLD_PASSWORD", PASSWORD)
        .output()
        .expect("the CLI runs")
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn register_keygen_upload_and_predict_from_the_command_line() {
    let data = TempDir::new().unwrap();
    let home = TempDir::new().unwrap();
    let app = TestApp::spawn(data.path(), 1).await;
    let server = app.base.clone();

    ok(blindfold(&server, &home, &["register", "--username", "ivan"]));

    ok(blindfold(&server, &home, &["keygen", "--model", "breast-cancer"]));
    let key_file = home
        .path()
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("models/breast-cancer/client.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    ok(blindfold(&server, &home, &["upload-key", "--model", "breast-cancer"]));

    // Two test rows, one of each class, as a CSV with the spec's header.
    let compiled = BREAST_CANCER.compile().unwrap();
    let (rows, targets) = BREAST_CANCER.test_rows().unwrap();
    let picks: Vec<usize> = [0.0, 1.0]
        .iter()
        .map(|c| targets.iter().position(|t| t == c).unwrap())
        .collect();
    let mut csv = compiled.spec.feature_names().join(",") + "\n";
    for &i in &picks {
        csv += &(rows[i].iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",") + "\n");
    }
    let csv_path = home.path().join("rows.csv");
    std::fs::write(&csv_path, csv).unwrap();

    let stdout = ok(blindfold(
        &server,
        &home,
        &["predict", "--features", csv_path.to_str().unwrap(), "--json"],
    ));
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for (line, &i) in lines.iter().zip(&picks) {
        let levels = compiled.spec.quantize_row(&rows[i]).unwrap();
        let expected = compiled.spec.decode(&compiled.quantized.raw_outputs(&levels)).unwrap();
        assert_eq!(line["class"], serde_json::json!(expected.class));
        assert_eq!(line["probabilities"], serde_json::json!(expected.probabilities));
    }
    assert_eq!(lines[0]["class"], "Malignant");
    assert_eq!(lines[1]["class"], "Benign");

    // Moving files by hand: encrypt, then decrypt refuses a file that is not a result.
    let encrypted = home.path().join("row.bin");
    ok(blindfold(
        &server,
        &home,
        &[
            "encrypt",
            "--features",
            csv_path.to_str().unwrap(),
            "--output",
            encrypted.to_str().unwrap(),
        ],
    ));
    let wrong = blindfold(&server, &home, &["decrypt", "--input", encrypted.to_str().unwrap()]);
    assert!(!wrong.status.success());

    ok(blindfold(&server, &home, &["logout"]));
    let after = blindfold(&server, &home, &["upload-key"]);
    assert!(String::from_utf8_lossy(&after.stderr).contains("not logged in"));
    app.stop().await;
}

#[tokio::test]
async fn the_client_library_reports_each_stage_and_decrypts_exactly() {
    let data = TempDir::new().unwrap();
    let app = TestApp::spawn(data.path(), 1).await;
    let client = app.user("judy").await;
    let model = blindfold_api::DEFAULT_MODEL_ID;
    let key = ClientKey::generate();
    client
        .upload_key(model, key.compressed_server_key().to_bytes())
        .await
        .unwrap();
    let spec = fetch_spec(&client, model).await.unwrap();
    let compiled = BREAST_CANCER.compile().unwrap();
    assert_eq!(spec, compiled.spec);
    let (rows, _) = BREAST_CANCER.test_rows().unwrap();

    let mut stages = Vec::new();
    let (prediction, job) = predict_row(&client, model, &spec, &key, &rows[0], |stage| {
        stages.push(stage.to_owned())
    })
    .await
    .unwrap();
    let expected = compiled.quantized.raw_outputs(&spec.quantize_row(&rows[0]).unwrap());
    assert_eq!(
        prediction.raw, expected,
        "decrypts to the clear quantized model's output"
    );
    assert_eq!(job.status, blindfold_api::JobStatus::Done);
    for stage in ["encrypting", "uploading", "done", "downloading", "decrypting"] {
        assert!(stages.iter().any(|s| s == stage), "{stage} in {stages:?}");
    }
    app.stop().await;
}
