//! The `blindfold` binary and its client library against a real server: register, keygen,
//! upload-key, predict; one key serves every model; keys of earlier versions (one per model)
//! are adopted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use blindfold_cli::predict::{fetch_spec, predict_row};
use blindfold_model::compiler::family::Compiled;
use blindfold_model::compiler::fixtures::{BREAST_CANCER, Fixture, WINE};
use blindfold_model::params::PARAMETER_SET_NAME;
use blindfold_model::{ClientKey, CompiledModel, Dataset};
use blindfold_server::services::catalogue::ModelCatalogue;
use blindfold_server::testing::{PASSWORD, TestApp, database_url};
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

fn failure(output: Output) -> String {
    assert!(!output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8(output.stderr).unwrap()
}

/// The CLI's directory for the server (the only one under `home`).
fn server_dir(home: &TempDir) -> PathBuf {
    let mut dirs: Vec<PathBuf> = home
        .path()
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

/// Installs `fixture` as model `id`, compiled as `blindfold-server import-model` compiles it
/// (default options, the fixture's labels), into the database of the server that will run on
/// `data_dir`; returns the compiled model to check answers against.
async fn install(data_dir: &Path, id: &str, fixture: Fixture) -> CompiledModel {
    let compiled = tokio::task::spawn_blocking(move || fixture.compile().unwrap())
        .await
        .unwrap();
    let db = blindfold_server::store::db::connect(&database_url(data_dir).await, 1)
        .await
        .unwrap();
    ModelCatalogue::new(db.clone())
        .install(id, fixture.name, &Compiled::Trees(compiled.clone()), &[])
        .await
        .unwrap();
    db.pool.close().await;
    compiled
}

/// The clear quantized model's answer on `row` (in the spec's feature order).
fn clear(compiled: &CompiledModel, row: &[f64]) -> blindfold_model::Prediction {
    let levels = compiled.spec.quantize_row(row).unwrap();
    compiled.spec.decode(&compiled.quantized.raw_outputs(&levels)).unwrap()
}

/// For each of the model's classes, the first test row the clear quantized model gives that
/// class, as a CSV (the test file's header and lines, target column included: the CLI ignores
/// columns the model lacks) written to `path`; and those rows in the spec's feature order.
fn one_row_per_class(fixture: &Fixture, compiled: &CompiledModel, path: &Path) -> Vec<Vec<f64>> {
    let all = Dataset::from_csv(fixture.test_csv)
        .unwrap()
        .select(&compiled.spec.feature_names())
        .unwrap();
    let mut lines = fixture.test_csv.lines();
    let mut csv = lines.next().unwrap().to_owned() + "\n";
    let lines: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), all.len());
    let mut rows = Vec::new();
    for label in &compiled.spec.labels {
        let i = all
            .iter()
            .position(|row| clear(compiled, row).class.as_ref() == Some(label))
            .unwrap_or_else(|| panic!("a test row of class {label}"));
        csv += lines[i];
        csv += "\n";
        rows.push(all[i].clone());
    }
    std::fs::write(path, &csv).unwrap();
    rows
}

/// `predict --json`'s lines equal the clear quantized model's answers on `rows`, one of each
/// class in turn.
fn assert_exact(stdout: &str, compiled: &CompiledModel, rows: &[Vec<f64>]) {
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), rows.len());
    for ((line, row), label) in lines.iter().zip(rows).zip(&compiled.spec.labels) {
        let expected = clear(compiled, row);
        assert_eq!(line["class"], serde_json::json!(expected.class));
        assert_eq!(line["probabilities"], serde_json::json!(expected.probabilities));
        assert_eq!(line["class"], serde_json::json!(label));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_key_from_the_command_line_serves_every_model() {
    let data = TempDir::new().unwrap();
    let home = TempDir::new().unwrap();
    let wine = install(data.path(), "wine", WINE).await;
    let app = TestApp::spawn(data.path(), 1).await;
    let server = app.base.clone();
    let breast_cancer = BREAST_CANCER.compile().unwrap();
    let client = app.client();
    assert_eq!(fetch_spec(&client, "wine").await.unwrap().spec, wine.spec);
    assert_eq!(
        wine.spec.encryption.parameter_set(),
        breast_cancer.spec.encryption.parameter_set()
    );

    ok(blindfold(&server, &home, &["register", "--username", "ivan"]));

    // One key pair, for the parameter set every model uses; no model named.
    let generated = ok(blindfold(&server, &home, &["keygen"]));
    assert!(generated.contains("for every model"), "{generated}");
    let keys = server_dir(&home).join("keys").join(PARAMETER_SET_NAME);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["client.key", "server.key"] {
            let metadata = std::fs::metadata(keys.join(file)).unwrap();
            assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "{file}");
        }
        let metadata = std::fs::metadata(&keys).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o777, 0o700);
    }
    assert!(!server_dir(&home).join("models").exists());
    // A model's keys are the same keys.
    let again = failure(blindfold(&server, &home, &["keygen", "--model", "wine"]));
    assert!(again.contains("you have keys already"), "{again}");

    let uploaded = ok(blindfold(&server, &home, &["upload-key"]));
    assert!(uploaded.contains("server key stored for every model"), "{uploaded}");
    let twice = ok(blindfold(&server, &home, &["upload-key", "--model", "wine"]));
    assert!(twice.contains("holds this key already"), "{twice}");

    // Predictions on two models with that one key, each equal to its clear quantized model.
    let csv = home.path().join("breast-cancer.csv");
    let rows = one_row_per_class(&BREAST_CANCER, &breast_cancer, &csv);
    let stdout = ok(blindfold(
        &server,
        &home,
        &["predict", "--features", csv.to_str().unwrap(), "--json"],
    ));
    assert_exact(&stdout, &breast_cancer, &rows);

    // Honest values beyond the calibration data are predicted (as the nearest calibrated value,
    // and said so); a row beyond the owner's valid range (sizes are never negative) or with a
    // value that is not a number is reported, and the others are still predicted.
    let spec = &breast_cancer.spec;
    let names = spec.feature_names();
    let mut beyond = rows[0].clone();
    beyond[0] = spec.features[0].calibration_max * 3.0;
    let mut negative = rows[0].clone();
    negative[1] = -1.0;
    let text = |row: &[f64]| row.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
    let mut not_a_number = text(&rows[1]).split(',').map(str::to_owned).collect::<Vec<_>>();
    not_a_number[2] = "n/a".to_owned();
    let mixed = home.path().join("mixed.csv");
    std::fs::write(
        &mixed,
        [
            names.join(","),
            text(&beyond),
            text(&negative),
            not_a_number.join(","),
            text(&rows[1]),
        ]
        .join("\n"),
    )
    .unwrap();
    let output = blindfold(
        &server,
        &home,
        &["predict", "--features", mixed.to_str().unwrap(), "--json"],
    );
    assert!(!output.status.success(), "a refused row makes the exit status non-zero");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("2 of 4 rows not predicted"), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0]["class"],
        serde_json::json!(clear(&breast_cancer, &beyond).class)
    );
    assert_eq!(
        lines[0]["probabilities"],
        serde_json::json!(clear(&breast_cancer, &beyond).probabilities)
    );
    let outside = &lines[0]["outside_calibration"][0];
    assert_eq!(outside["feature"], serde_json::json!(names[0]));
    assert_eq!(
        outside["treated_as"],
        serde_json::json!(spec.features[0].calibration_max)
    );
    let why = lines[1]["error"].as_str().unwrap();
    assert!(
        why.contains(&format!("`{}` = -1 is outside its valid range (at least 0)", names[1])),
        "{why}"
    );
    assert!(
        lines[2]["error"].as_str().unwrap().contains("not a finite number"),
        "{lines:?}"
    );
    assert_eq!(
        lines[3]["class"],
        serde_json::json!(clear(&breast_cancer, &rows[1]).class)
    );
    // In text, the note is on the row's answer.
    let output = blindfold(&server, &home, &["predict", "--features", mixed.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("lies outside the calibration data"), "{stdout}");
    assert!(stdout.contains("row 2 (line 3): not predicted"), "{stdout}");

    let wine_csv = home.path().join("wine.csv");
    let wine_rows = one_row_per_class(&WINE, &wine, &wine_csv);
    assert_eq!(wine_rows.len(), 3);
    let stdout = ok(blindfold(
        &server,
        &home,
        &[
            "predict",
            "--model",
            "wine",
            "--features",
            wine_csv.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_exact(&stdout, &wine, &wine_rows);

    // A past prediction decrypts again by its id, under this machine's key and the model's
    // spec.
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let id = first["prediction"].as_str().unwrap().to_owned();
    let again = ok(blindfold(&server, &home, &["decrypt", "--prediction", &id, "--json"]));
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["class"], first["class"]);

    // Moving files by hand: encrypt (the submission URL carries the binding), then decrypt
    // refuses a file that is not a result.
    let encrypted = home.path().join("row.bin");
    let printed = ok(blindfold(
        &server,
        &home,
        &[
            "encrypt",
            "--features",
            csv.to_str().unwrap(),
            "--output",
            encrypted.to_str().unwrap(),
        ],
    ));
    let served = fetch_spec(&client, blindfold_api::DEFAULT_MODEL_ID).await.unwrap();
    assert!(
        printed.contains("key_fingerprint=") && printed.contains(&format!("spec_sha256={}", served.sha256)),
        "{printed}"
    );
    failure(blindfold(
        &server,
        &home,
        &["decrypt", "--input", encrypted.to_str().unwrap()],
    ));

    // New keys replace the pair: the old prediction's result is not decrypted under them.
    ok(blindfold(&server, &home, &["keygen", "--force"]));
    ok(blindfold(&server, &home, &["upload-key"]));
    let refused = failure(blindfold(&server, &home, &["decrypt", "--prediction", &id]));
    assert!(refused.contains("not this machine's"), "{refused}");

    ok(blindfold(&server, &home, &["logout"]));
    let after = failure(blindfold(&server, &home, &["upload-key"]));
    assert!(after.contains("not logged in"), "{after}");
    app.stop().await;
}

#[tokio::test]
async fn the_client_library_reports_each_stage_and_decrypts_exactly() {
    let data = TempDir::new().unwrap();
    let app = TestApp::spawn(data.path(), 1).await;
    let client = app.user("judy").await;
    let model = blindfold_api::DEFAULT_MODEL_ID;
    let key = ClientKey::generate();
    let info = client.upload_key(key.compressed_server_key().to_bytes()).await.unwrap();
    assert_eq!(info.parameter_set, PARAMETER_SET_NAME);
    let served = fetch_spec(&client, model).await.unwrap();
    let spec = &served.spec;
    let compiled = BREAST_CANCER.compile().unwrap();
    assert_eq!(spec, &compiled.spec);
    let (rows, _) = BREAST_CANCER.test_rows().unwrap();
    let binding = served.binding(&info.fingerprint);

    let mut stages = Vec::new();
    let (prediction, job) = predict_row(&client, model, spec, &binding, &key, &rows[0], |stage| {
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

/// nginx as a TLS-terminating reverse proxy in front of a server, with a certificate from a CA
/// this test makes with openssl; stopped when dropped.
struct TlsProxy {
    nginx: std::process::Child,
    port: u16,
    dir: TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl TlsProxy {
    /// Proxies `https://localhost:PORT` (and `https://[::1]:PORT`) to `upstream`, adding the
    /// client's address to `X-Forwarded-For`.
    fn start(upstream: &str) -> Self {
        let dir = TempDir::new().unwrap();
        let d = dir.path();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            d,
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=Blindfold test CA",
                ],
                &["-addext", "basicConstraints=critical,CA:TRUE"],
                &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ]
            .concat(),
        );
        openssl(
            d,
            &[
                &["req"][..],
                &ec,
                &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
            ]
            .concat(),
        );
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let upstream = upstream.trim_start_matches("http://");
        let d = d.display();
        let conf = format!(
            "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    listen [::1]:{port} ssl;
    ssl_certificate {d}/server.pem;
    ssl_certificate_key {d}/server.key;
    client_max_body_size 64m;
    location / {{
      proxy_pass http://{upstream};
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_request_buffering off;
      proxy_read_timeout 120s;
    }}
  }}
}}
"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let nginx = Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .spawn()
            .expect("Debian's nginx (scripts/setup.sh --tls-proxy)");
        let proxy = Self { nginx, port, dir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return proxy;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "nginx did not start: {}",
            std::fs::read_to_string(proxy.dir.path().join("error.log")).unwrap_or_default()
        );
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.nginx.kill();
        let _ = self.nginx.wait();
    }
}

/// The CLI's whole flow over HTTPS through a TLS-terminating nginx, trusting the deployment's
/// private CA; the server behind it (`--trusted-proxy`) attributes requests to the address
/// nginx forwards, not to nginx. Run by `scripts/test.sh` (which installs nginx).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Debian's nginx: scripts/setup.sh --tls-proxy"]
async fn the_command_line_works_through_a_tls_proxy_with_a_private_ca() {
    let data = TempDir::new().unwrap();
    let home = TempDir::new().unwrap();
    let app = TestApp::spawn_with(data.path(), |s| {
        s.workers = 1;
        s.secure_cookies = true;
        s.trusted_proxy = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let proxy = TlsProxy::start(&app.base);
    // Through nginx's IPv6 listener: the forwarded address (::1) differs from nginx's (127.0.0.1).
    let server = format!("https://[::1]:{}", proxy.port);
    let ca = proxy.ca();
    let with_ca = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_blindfold"))
            .args(args)
            .env("BLINDFOLD_SERVER", &server)
            .env("BLINDFOLD_HOME", home.path())
            .env("BLINDFOLD_PASSWORD", PASSWORD)
            .env("BLINDFOLD_CA_CERT", &ca)
            .output()
            .expect("the CLI runs")
    };

    // Without the CA the certificate is not trusted, and nothing is sent.
    let untrusted = failure(blindfold(&server, &home, &["register", "--username", "ivan"]));
    assert!(untrusted.to_lowercase().contains("certificate"), "{untrusted}");

    ok(with_ca(&["register", "--username", "ivan"]));
    ok(with_ca(&["keygen"]));
    let uploaded = ok(with_ca(&["upload-key"]));
    assert!(uploaded.contains("server key stored"), "{uploaded}");
    let compiled = BREAST_CANCER.compile().unwrap();
    let csv = home.path().join("rows.csv");
    let rows = one_row_per_class(&BREAST_CANCER, &compiled, &csv);
    let stdout = ok(with_ca(&["predict", "--features", csv.to_str().unwrap(), "--json"]));
    assert_exact(&stdout, &compiled, &rows);

    // The registration was counted against the client's address as nginx forwarded it.
    let db = blindfold_server::testing::database(data.path()).await;
    let subjects: Vec<String> = sqlx::query_scalar("SELECT subject FROM throttles WHERE scope = 'register'")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(subjects, ["::/64"]);
    drop(proxy);
    app.stop().await;
}

#[test]
fn passwords_are_not_sent_in_clear_to_another_machine() {
    let home = TempDir::new().unwrap();
    // A documentation address: refused before any connection is tried.
    let refused = failure(blindfold(
        "http://192.0.2.1:3000",
        &home,
        &["register", "--username", "ivan"],
    ));
    assert!(
        refused.contains("plain HTTP") && refused.contains("--allow-plain-http"),
        "{refused}"
    );
    let refused = failure(blindfold(
        "http://blindfold.example",
        &home,
        &["login", "--username", "ivan"],
    ));
    assert!(refused.contains("--allow-plain-http"), "{refused}");
}
