//! Model owners: the role (granted by the real binary, or to the first account), the owner
//! routes, an upload compiled in the background into a draft with a report, publication to the
//! catalogue, a user's exact prediction on it, and uploads that cannot be used.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use blindfold_api::client::{ApiClient, ClientError};
use blindfold_api::{
    CSRF_HEADER, ErrorBody, FeatureInfo, JobStatus, ModelDetails, ModelFamily, ModelState, ModelUpload, OwnedModel,
    QualityMeasure, QualityRows, Role, paths,
};
use blindfold_model::compiler::fixtures::{
    BREAST_CANCER, Fixture, LIGHTGBM_WINE, SKLEARN_LINEAR_SVC_WINE, SKLEARN_LOGISTIC_REGRESSION,
    SKLEARN_MLP_CLASSIFIER, SKLEARN_RANDOM_FOREST, TORCH_MLP,
};
use blindfold_model::{CompileOptions, Dataset, compile, decrypt_prediction, encrypt_row};
use blindfold_server::services::catalogue::DEFAULT_MODEL_DESCRIPTION;
use blindfold_server::services::owned_models::INTERRUPTED;
use blindfold_server::testing::{PASSWORD, TestApp, database, database_url};
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use tempfile::TempDir;

use crate::{KEYS, MODEL, fetch_spec, status, stored, submit_row};

const WINE_LABELS: [&str; 3] = ["barolo", "grignolino", "barbera"];

/// `blindfold-server grant-owner USERNAME [--revoke]` on the server's database.
async fn grant(data_dir: &Path, username: &str, revoke: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_blindfold-server"));
    command
        .arg("grant-owner")
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .args(["--database-url", &database_url(data_dir).await])
        .arg(username);
    if revoke {
        command.arg("--revoke");
    }
    command.output().unwrap()
}

/// Makes an account an owner in the database directly (the binary is tested once).
async fn make_owner(data_dir: &Path, username: &str) {
    let pool = database(data_dir).await;
    sqlx::query("UPDATE users SET role = 'owner' WHERE username_key = $1")
        .bind(username)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn role(client: &ApiClient) -> Role {
    client.session_info().await.unwrap().role
}

fn wine_upload(id: &str) -> ModelUpload {
    ModelUpload {
        id: id.to_owned(),
        name: "Wine cultivars".to_owned(),
        description: "Which of three cultivars of one region a wine comes from, from its chemical analysis.".to_owned(),
        labels: WINE_LABELS.map(str::to_owned).to_vec(),
        inputs: vec![
            FeatureInfo {
                name: "alcohol".to_owned(),
                description: "Alcohol content".to_owned(),
                unit: "% vol".to_owned(),
                ..FeatureInfo::default()
            },
            FeatureInfo {
                name: "proline".to_owned(),
                description: "Proline".to_owned(),
                unit: "mg/L".to_owned(),
                ..FeatureInfo::default()
            },
        ],
    }
}

/// Uploads the LightGBM wine model as `id`, calibrated on its training rows.
async fn upload_wine(owner: &ApiClient, id: &str) -> Result<OwnedModel, ClientError> {
    let fixture = LIGHTGBM_WINE;
    owner
        .upload_owner_model(
            &wine_upload(id),
            fixture.model.to_vec(),
            fixture.train_csv.to_owned(),
            None,
        )
        .await
}

/// A server with one worker whose first account, Alice, is an owner, and Bob, a user whose key
/// is uploaded.
async fn owner_and_user(dir: &Path) -> (TestApp, ApiClient, ApiClient) {
    let app = TestApp::spawn_with(dir, |settings| {
        settings.workers = 1;
        settings.first_account_owner = true;
    })
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    bob.upload_key(KEYS.server.clone()).await.unwrap();
    (app, alice, bob)
}

/// An upload as multipart/form-data with exactly these parts: its status and JSON body.
async fn upload_parts(app: &TestApp, owner: &ApiClient, parts: &[(&str, &[u8])]) -> (StatusCode, serde_json::Value) {
    let session = owner.session().unwrap();
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in parts {
        form = form.part(name.to_string(), reqwest::multipart::Part::bytes(bytes.to_vec()));
    }
    let response = reqwest::Client::new()
        .post(app.url(paths::OWNER_MODELS))
        .header(COOKIE, format!("{}={}", session.cookie_name, session.token))
        .header(CSRF_HEADER, &session.csrf_token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// The status and error body of an upload refused.
async fn refused(app: &TestApp, owner: &ApiClient, parts: &[(&str, &[u8])]) -> (StatusCode, ErrorBody) {
    let (status, body) = upload_parts(app, owner, parts).await;
    assert!(!status.is_success(), "{status}: {body}");
    (status, serde_json::from_value(body).unwrap())
}

fn api_error<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (StatusCode, ErrorBody) {
    match result.expect_err("the call should fail") {
        ClientError::Api { status, body } => (status, body),
        other => panic!("not an API error: {other}"),
    }
}

fn json(upload: &ModelUpload) -> Vec<u8> {
    serde_json::to_vec(upload).unwrap()
}

#[tokio::test]
async fn grant_owner_changes_the_role_of_live_sessions() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let alice = app.user("alice").await;
    // Without --first-account-owner the first account is a user like any other.
    assert_eq!(role(&alice).await, Role::User);
    assert_eq!(status(alice.owner_models().await), StatusCode::FORBIDDEN);

    // Any case, as at login.
    let granted = grant(dir.path(), "ALICE", false).await;
    assert!(granted.status.success(), "{}", String::from_utf8_lossy(&granted.stderr));
    assert_eq!(
        String::from_utf8_lossy(&granted.stdout).trim(),
        "`alice` is a model owner now"
    );
    assert_eq!(role(&alice).await, Role::Owner, "the same session, on its next request");
    assert_eq!(alice.owner_models().await.unwrap(), vec![]);
    // An owner's data is never kept by a cache.
    let session = alice.session().unwrap();
    let response = reqwest::Client::new()
        .get(app.url(paths::OWNER_MODELS))
        .header(COOKIE, format!("{}={}", session.cookie_name, session.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let mut again = app.client();
    assert_eq!(again.login("alice", PASSWORD).await.unwrap().username, "alice");
    assert_eq!(role(&again).await, Role::Owner);

    let revoked = grant(dir.path(), "alice", true).await;
    assert!(revoked.status.success());
    assert!(String::from_utf8_lossy(&revoked.stdout).contains("no longer a model owner"));
    assert_eq!(role(&alice).await, Role::User);
    assert_eq!(status(alice.owner_models().await), StatusCode::FORBIDDEN);

    let unknown = grant(dir.path(), "nobody", false).await;
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("no account named `nobody`"), "{stderr}");
    app.stop().await;
}

#[tokio::test]
async fn the_first_account_may_be_made_an_owner() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |settings| {
        settings.workers = 0;
        settings.first_account_owner = true;
    })
    .await;
    let mut first = app.client();
    first.register("olga", PASSWORD, PASSWORD).await.unwrap();
    assert_eq!(role(&first).await, Role::Owner);
    let second = app.user("pavel").await;
    assert_eq!(role(&second).await, Role::User);
    app.stop().await;
}

#[tokio::test]
async fn users_are_refused_every_owner_route() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let user = app.user("ursula").await;
    let calls = [
        api_error(user.owner_models().await),
        api_error(user.owner_model(MODEL).await),
        api_error(
            user.upload_owner_model(&wine_upload("w"), LIGHTGBM_WINE.model.to_vec(), String::new(), None)
                .await,
        ),
        api_error(
            user.update_owner_model(
                MODEL,
                &ModelDetails {
                    name: "x".into(),
                    ..Default::default()
                },
            )
            .await,
        ),
        api_error(user.publish_model(MODEL).await),
        api_error(user.unpublish_model(MODEL).await),
        api_error(user.delete_owner_model(MODEL).await),
    ];
    for (status, body) in calls {
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body.error, "forbidden");
        assert!(
            body.detail.contains("blindfold-server grant-owner USERNAME"),
            "{}",
            body.detail
        );
    }
    assert_eq!(status(app.client().owner_models().await), StatusCode::UNAUTHORIZED);
    // The CLI's model is in the catalogue still.
    assert!(user.models().await.unwrap().iter().any(|m| m.id == MODEL));
    app.stop().await;
}

#[tokio::test]
async fn an_owner_publishes_a_model_that_users_predict_with_exactly() {
    let dir = TempDir::new().unwrap();
    // Bob's key, uploaded before the model exists, serves it too.
    let (app, alice, bob) = owner_and_user(dir.path()).await;
    assert_eq!(role(&alice).await, Role::Owner);

    let fixture = LIGHTGBM_WINE;
    let id = "wine-cultivars";
    let upload = wine_upload(id);
    let (code, body) = upload_parts(
        &app,
        &alice,
        &[
            ("metadata", &json(&upload)),
            ("model", fixture.model),
            ("calibration", fixture.train_csv.as_bytes()),
            ("test", fixture.test_csv.as_bytes()),
        ],
    )
    .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    let uploaded: OwnedModel = serde_json::from_value(body).unwrap();
    assert_eq!(uploaded.state, ModelState::Compiling);
    assert_eq!((uploaded.version, uploaded.report.as_ref()), (1, None));
    assert!(uploaded.progress.is_some());
    assert_eq!(uploaded.inputs.len(), 13, "every input, known from the upload");

    let draft = alice.wait_compiled(id, Duration::from_secs(120)).await.unwrap();
    assert_eq!(draft.state, ModelState::Draft, "{:?}", draft.error);
    assert_eq!((draft.progress.as_ref(), draft.error.as_ref()), (None, None));
    assert_eq!(draft.labels, WINE_LABELS);
    assert_eq!(draft.version, 2, "compiled: version 1 + 1");
    assert_eq!(draft.inputs.len(), 13);
    assert_eq!(draft.inputs[0], upload.inputs[0], "alcohol, described");
    assert_eq!(draft.inputs[1].name, "malic_acid");
    assert!(draft.inputs[1].description.is_empty());
    let report = draft.report.clone().unwrap();
    assert_eq!(report.format, "LightGBM text");
    let (test_rows, _) = fixture.test_rows().unwrap();
    let calibration = Dataset::from_csv(fixture.train_csv).unwrap();
    assert_eq!(report.evaluation.rows, QualityRows::Test);
    assert_eq!(report.evaluation.count, test_rows.len());
    assert_eq!(report.evaluation.measure, QualityMeasure::Accuracy);
    assert_eq!(report.calibration.rows, QualityRows::HeldOutCalibration);
    assert_eq!(report.calibration.count, calibration.rows.len());
    assert_eq!(report.confusion.len(), 3);
    let counted: u64 = report.confusion.iter().flatten().sum();
    assert_eq!(
        counted as usize,
        test_rows.len(),
        "the confusion matrix counts every test row"
    );
    assert!(report.scatter.is_empty());
    assert_eq!(alice.owner_models().await.unwrap(), vec![draft.clone()]);

    // A draft is in no catalogue and takes no predictions.
    assert!(!bob.models().await.unwrap().iter().any(|m| m.id == id));
    assert_eq!(status(bob.spec_json(id).await), StatusCode::NOT_FOUND);
    assert_eq!(status(submit_row(&bob, id, vec![0; 64]).await), StatusCode::NOT_FOUND);

    let published = alice.publish_model(id).await.unwrap();
    assert_eq!(published.state, ModelState::Published);
    assert_eq!(
        alice.publish_model(id).await.unwrap().state,
        ModelState::Published,
        "idempotent"
    );
    let models = bob.models().await.unwrap();
    let summary = models.iter().find(|m| m.id == id).expect("listed once published");
    assert_eq!(summary.name, upload.name);
    assert_eq!(summary.description, upload.description);
    assert_eq!(summary.inputs, draft.inputs);
    assert_eq!(summary.quality, Some(report.evaluation));
    assert_eq!(summary.cost, Some(report.cost));
    assert_eq!(summary.labels, WINE_LABELS);
    assert_eq!(summary.version, 2);

    // The server's compilation is the clear model this test compiles the same way, and the
    // decrypted answer is exactly its quantized output.
    let spec = fetch_spec(&bob, id).await;
    let options = CompileOptions {
        labels: Some(WINE_LABELS.map(str::to_owned).to_vec()),
        ..Default::default()
    };
    let expected_model = compile(&fixture.import().unwrap(), &calibration, &options).unwrap();
    assert_eq!(spec, expected_model.spec);
    let row = &test_rows[0];
    let encrypted = encrypt_row(&spec, &KEYS.client, row).unwrap().to_bytes();
    let job = submit_row(&bob, id, encrypted.clone()).await.unwrap();
    let job = bob.wait(&job.id, Duration::from_secs(120), |_| {}).await.unwrap();
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    let result = bob.result(&job.id).await.unwrap();
    let prediction = decrypt_prediction(&spec, &KEYS.client, &result).unwrap();
    let expected = expected_model.quantized.raw_outputs(&spec.quantize_row(row).unwrap());
    assert_eq!(
        prediction.raw, expected,
        "decrypts to the clear quantized model's output"
    );
    assert!(WINE_LABELS.contains(&prediction.class.unwrap().as_str()));

    // New details: the card changes, the version is bumped.
    let details = ModelDetails {
        name: "Wine cultivars (LightGBM)".to_owned(),
        description: "Three cultivars.".to_owned(),
        inputs: vec![FeatureInfo {
            name: "hue".to_owned(),
            description: "Hue of the wine".to_owned(),
            unit: String::new(),
            ..FeatureInfo::default()
        }],
    };
    let patched = alice.update_owner_model(id, &details).await.unwrap();
    assert_eq!(patched.version, 3);
    assert_eq!(patched.name, details.name);
    assert!(
        patched.inputs[0].description.is_empty(),
        "the details are replaced whole"
    );
    let hue = patched.inputs.iter().find(|input| input.name == "hue").unwrap();
    assert_eq!(hue.description, "Hue of the wine");
    let models = bob.models().await.unwrap();
    let summary = models.iter().find(|m| m.id == id).unwrap();
    assert_eq!((summary.version, summary.description.as_str()), (3, "Three cultivars."));
    assert_eq!(summary.inputs, patched.inputs);
    let bad = ModelDetails {
        inputs: vec![FeatureInfo {
            name: "colour".to_owned(),
            ..Default::default()
        }],
        ..details.clone()
    };
    let (code, body) = api_error(alice.update_owner_model(id, &bad).await);
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(body.fields["inputs"][0].contains("`colour`"), "{body:?}");

    // Unpublished: out of the catalogue, no predictions.
    assert_eq!(alice.unpublish_model(id).await.unwrap().state, ModelState::Draft);
    assert!(!bob.models().await.unwrap().iter().any(|m| m.id == id));
    assert_eq!(status(submit_row(&bob, id, encrypted).await), StatusCode::NOT_FOUND);
    assert_eq!(status(bob.spec_json(id).await), StatusCode::NOT_FOUND);

    // Published models are not deleted; other owners do not see the model at all.
    alice.publish_model(id).await.unwrap();
    let (code, body) = api_error(alice.delete_owner_model(id).await);
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(body.detail.contains("unpublish it first"), "{}", body.detail);
    alice.unpublish_model(id).await.unwrap();
    let carol = app.user("carol").await;
    make_owner(dir.path(), "carol").await;
    assert_eq!(carol.owner_models().await.unwrap(), vec![]);
    assert_eq!(status(carol.owner_model(id).await), StatusCode::NOT_FOUND);
    assert_eq!(status(carol.publish_model(id).await), StatusCode::NOT_FOUND);
    assert_eq!(
        status(carol.update_owner_model(id, &details).await),
        StatusCode::NOT_FOUND
    );
    assert_eq!(status(carol.delete_owner_model(id).await), StatusCode::NOT_FOUND);
    assert_eq!(
        status(carol.owner_model(MODEL).await),
        StatusCode::NOT_FOUND,
        "nor the CLI's"
    );

    // Deleted with the predictions made with it, and their files.
    assert_eq!(stored(dir.path(), "jobs/").await.len(), 1, "Bob's result");
    alice.delete_owner_model(id).await.unwrap();
    assert_eq!(status(alice.owner_model(id).await), StatusCode::NOT_FOUND);
    assert_eq!(status(bob.job(&job.id).await), StatusCode::NOT_FOUND);
    assert!(stored(dir.path(), "jobs/").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn uploads_that_cannot_be_used_are_refused_with_the_reason() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |settings| {
        settings.workers = 0;
        settings.max_model_bytes = 64 * 1024;
        settings.max_csv_rows = 140;
        settings.max_models_per_owner = 3;
    })
    .await;
    let owner = app.user("otto").await;
    make_owner(dir.path(), "otto").await;
    let fixture = LIGHTGBM_WINE;
    // The wine training rows are 142: over the limit here. The test rows (36) calibrate.
    let (train, test) = (fixture.train_csv.as_bytes(), fixture.test_csv.as_bytes());
    let metadata = json(&wine_upload("wine"));
    let with_model = |model: &[u8]| -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("metadata", metadata.clone()),
            ("model", model.to_vec()),
            ("calibration", test.to_vec()),
        ]
    };
    let (app_ref, owner_ref) = (&app, &owner);
    let send = move |list: Vec<(&'static str, Vec<u8>)>| async move {
        let borrowed: Vec<(&str, &[u8])> = list.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        refused(app_ref, owner_ref, &borrowed).await
    };

    // Metadata breaking rules, per field.
    let bad_metadata = json(&ModelUpload {
        id: "Wine!".into(),
        name: String::new(),
        ..wine_upload("x")
    });
    let (code, body) = send(vec![
        ("metadata", bad_metadata),
        ("model", fixture.model.to_vec()),
        ("calibration", test.to_vec()),
    ])
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        body.fields.contains_key("id") && body.fields.contains_key("name"),
        "{body:?}"
    );

    // Parts missing, unknown, too large.
    let (code, body) = send(with_model(fixture.model)[..2].to_vec()).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(body.detail.contains("missing part `calibration`"), "{}", body.detail);
    let mut extra = with_model(fixture.model);
    extra.push(("extra", b"1".to_vec()));
    let (code, body) = send(extra).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(body.detail.contains("unknown part \"extra\""), "{}", body.detail);
    let (code, body) = send(with_model(&vec![b'{'; 64 * 1024 + 1])).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.detail.contains("the model part"), "{}", body.detail);

    // Model files the importers refuse, with their reasons.
    let categorical = fixture
        .model_text()
        .replacen("decision_type=2 2", "decision_type=3 2", 1);
    let mut other_operator = SKLEARN_RANDOM_FOREST.model.to_vec();
    replace_all(&mut other_operator, b"ZipMap", b"Scaler");
    let refusals: [(&[u8], &str); 5] = [
        (b"{\"learner\": ", "invalid model: XGBoost JSON"),
        (b"hello", "not a model file Blindfold reads"),
        (&SKLEARN_RANDOM_FOREST.model[..100], "invalid model: ONNX"),
        (&other_operator, "ONNX operator `Scaler`"),
        (categorical.as_bytes(), "categorical splits"),
    ];
    for (model, needle) in refusals {
        let (code, body) = send(vec![
            ("metadata", metadata.clone()),
            ("model", model.to_vec()),
            ("calibration", test.to_vec()),
        ])
        .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{needle}: {}", body.detail);
        assert_eq!(body.error, "unusable_file");
        assert!(body.detail.contains(needle), "expected `{needle}` in `{}`", body.detail);
    }

    // CSVs that cannot be used.
    let not_a_number = format!("{}\n{}", test_header(), "x,".repeat(13) + "0");
    let csv_refusals: [(Vec<u8>, &str); 4] = [
        (not_a_number.into_bytes(), "the calibration CSV: invalid data: line 2"),
        (vec![0xff, 0xfe, b'a'], "the calibration CSV is not UTF-8"),
        (
            train.to_vec(),
            "the calibration CSV has 142 rows; at most 140 are accepted",
        ),
        (
            b"alcohol,hue\n1,2\n".to_vec(),
            "saved without names, but the calibration CSV has only 2 columns",
        ),
    ];
    for (calibration, needle) in csv_refusals {
        let (code, body) = send(vec![
            ("metadata", metadata.clone()),
            ("model", fixture.model.to_vec()),
            ("calibration", calibration),
        ])
        .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{needle}: {}", body.detail);
        assert!(body.detail.contains(needle), "expected `{needle}` in `{}`", body.detail);
    }

    let (code, body) = send(vec![
        ("metadata", metadata.clone()),
        ("model", fixture.model.to_vec()),
        ("calibration", test.to_vec()),
        ("test", b"alcohol,target\n1,2\n".to_vec()),
    ])
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.detail
            .starts_with("the test CSV lacks a column for the model's input `malic_acid`, `ash`"),
        "{}",
        body.detail
    );

    // Metadata that does not fit the model.
    let unknown_input = json(&ModelUpload {
        inputs: vec![FeatureInfo {
            name: "colour".into(),
            ..Default::default()
        }],
        ..wine_upload("wine")
    });
    let two_labels = json(&ModelUpload {
        labels: vec!["red".into(), "white".into()],
        ..wine_upload("wine")
    });
    for (metadata, field, needle) in [
        (unknown_input, "inputs", "`colour`"),
        (two_labels, "labels", "3 classes"),
    ] {
        let (code, body) = send(vec![
            ("metadata", metadata),
            ("model", fixture.model.to_vec()),
            ("calibration", test.to_vec()),
        ])
        .await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(body.fields[field][0].contains(needle), "{body:?}");
    }

    // Ids taken (the default model's too) and the quota of models.
    let (code, body) = send(vec![
        ("metadata", json(&wine_upload(MODEL))),
        ("model", fixture.model.to_vec()),
        ("calibration", test.to_vec()),
    ])
    .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(body.detail, "a model with id `breast-cancer` exists");
    for id in ["first", "second"] {
        let accepted = owner
            .upload_owner_model(
                &wine_upload(id),
                fixture.model.to_vec(),
                fixture.test_csv.to_owned(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(accepted.state, ModelState::Compiling);
    }
    let (code, body) = api_error(
        owner
            .upload_owner_model(
                &wine_upload("first"),
                fixture.model.to_vec(),
                fixture.test_csv.to_owned(),
                None,
            )
            .await,
    );
    assert_eq!(
        (code, body.detail.as_str()),
        (StatusCode::CONFLICT, "a model with id `first` exists")
    );

    // Compiles, but its test rows name a class the model does not have: failed, with the reason.
    let mut lines: Vec<String> = fixture.test_csv.lines().map(str::to_owned).collect();
    let last_comma = lines[1].rfind(',').unwrap();
    lines[1].replace_range(last_comma.., ",7");
    let bad_test = lines.join("\n");
    let failing = owner
        .upload_owner_model(
            &wine_upload("third"),
            fixture.model.to_vec(),
            fixture.test_csv.to_owned(),
            Some(bad_test),
        )
        .await
        .unwrap();
    assert_eq!(failing.state, ModelState::Compiling);
    let (code, body) = api_error(
        owner
            .upload_owner_model(
                &wine_upload("fourth"),
                fixture.model.to_vec(),
                fixture.test_csv.to_owned(),
                None,
            )
            .await,
    );
    assert_eq!((code, body.error.as_str()), (StatusCode::CONFLICT, "quota_exceeded"));
    let failed = owner.wait_compiled("third", Duration::from_secs(120)).await.unwrap();
    assert_eq!(failed.state, ModelState::Failed);
    let error = failed.error.unwrap();
    assert!(error.contains("test column `target` holds 7"), "{error}");
    assert_eq!(status(owner.publish_model("third").await), StatusCode::CONFLICT);
    owner.delete_owner_model("third").await.unwrap();
    for id in ["first", "second"] {
        let compiled = owner.wait_compiled(id, Duration::from_secs(120)).await.unwrap();
        assert_eq!(compiled.state, ModelState::Draft, "{:?}", compiled.error);
        let evaluation = compiled.report.unwrap().evaluation;
        assert_eq!((evaluation.rows, evaluation.count), (QualityRows::Calibration, 36));
    }
    app.stop().await;
}

fn test_header() -> &'static str {
    LIGHTGBM_WINE.test_csv.lines().next().unwrap()
}

fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut replaced = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            replaced += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(replaced > 0);
}

/// A restart fails the compilations it interrupted and, in the job worker, predictions queued
/// on a model unpublished meanwhile; deleting an owner's account deletes their models.
#[tokio::test]
async fn restarts_fail_interrupted_compilations_and_jobs_of_unpublished_models() {
    let dir = TempDir::new().unwrap();
    let configure = |workers: usize| {
        move |settings: &mut blindfold_server::Settings| {
            settings.workers = workers;
            settings.first_account_owner = true;
        }
    };
    let app = TestApp::spawn_with(dir.path(), configure(0)).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    bob.upload_key(KEYS.server.clone()).await.unwrap();
    let fixture = LIGHTGBM_WINE;
    alice
        .upload_owner_model(
            &wine_upload("wine"),
            fixture.model.to_vec(),
            fixture.train_csv.to_owned(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        alice
            .wait_compiled("wine", Duration::from_secs(120))
            .await
            .unwrap()
            .state,
        ModelState::Draft
    );
    alice.publish_model("wine").await.unwrap();
    let spec = fetch_spec(&bob, "wine").await;
    let (rows, _) = fixture.test_rows().unwrap();
    let encrypted = encrypt_row(&spec, &KEYS.client, &rows[0]).unwrap().to_bytes();
    // Queued: no worker runs here.
    let job = submit_row(&bob, "wine", encrypted).await.unwrap();
    alice.unpublish_model("wine").await.unwrap();
    app.stop().await;

    // A compilation the server was running when it died.
    let pool = database(dir.path()).await;
    let alice_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username_key = 'alice'")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO models (id, name, spec_json, plan_json, created_at, owner_id, state, progress_json, updated_at)
         VALUES ('interrupted', 'Interrupted', '', '', 0, $1, 'compiling', '{\"stage\":\"x\",\"done\":0,\"total\":1}', 0)",
    )
    .bind(alice_id)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let app = TestApp::spawn_with(dir.path(), configure(1)).await;
    let mut alice = app.client();
    alice.login("alice", PASSWORD).await.unwrap();
    let interrupted = alice.owner_model("interrupted").await.unwrap();
    assert_eq!(interrupted.state, ModelState::Failed);
    assert_eq!(interrupted.error.as_deref(), Some(INTERRUPTED));
    assert_eq!(interrupted.progress, None);
    let mut bob = app.client();
    bob.login("bob", PASSWORD).await.unwrap();
    let failed = bob.wait(&job.id, Duration::from_secs(60), |_| {}).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    let error = failed.error.unwrap();
    assert!(error.contains("the model `wine` is no longer published"), "{error}");

    // The owner leaves: their models go, and the predictions made with them.
    alice.delete_account(PASSWORD).await.unwrap();
    let pool = database(dir.path()).await;
    let models: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM models WHERE id IN ('wine', 'interrupted')")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(models, 0);
    assert_eq!(status(bob.job(&job.id).await), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn the_default_model_has_a_card() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let models = app.client().models().await.unwrap();
    let default = models.iter().find(|m| m.id == MODEL).unwrap();
    assert_eq!(default.description, DEFAULT_MODEL_DESCRIPTION);
    assert_eq!(default.inputs.len(), 30);
    assert!(
        default
            .inputs
            .iter()
            .all(|input| !input.description.is_empty() && input.unit.is_empty())
    );
    let quality = default.quality.unwrap();
    let (test_rows, _) = BREAST_CANCER.test_rows().unwrap();
    assert_eq!((quality.rows, quality.count), (QualityRows::Test, test_rows.len()));
    assert_eq!(quality.measure, QualityMeasure::Accuracy);
    assert!(quality.float > 0.9, "{quality:?}");
    assert_eq!(default.cost.unwrap().bootstraps, crate::COMPILED.report.bootstraps);
    assert!(default.version >= 1);
    app.stop().await;
}

#[tokio::test]
async fn compilations_are_bounded_in_work_bootstraps_and_time_and_stop_when_their_model_goes() {
    let fixture = LIGHTGBM_WINE;
    let ensemble = fixture.import().unwrap();
    let rows = Dataset::from_csv(fixture.train_csv).unwrap().rows.len() as u64;
    let work = ensemble.splits() as u64 * rows;
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.first_account_owner = true;
        s.max_compile_split_rows = work;
        s.max_bootstraps_per_prediction = 1;
    })
    .await;
    let alice = app.user("alice").await;
    let upload = |id: &str, calibration: String| {
        let upload = wine_upload(id);
        let alice = &alice;
        async move {
            alice
                .upload_owner_model(&upload, fixture.model.to_vec(), calibration, None)
                .await
        }
    };

    // Exactly the work bound: accepted. One row more: refused before compiling, with the
    // figures.
    upload("wine", fixture.train_csv.to_owned()).await.unwrap();
    let mut csv = fixture.train_csv.trim_end().to_owned();
    csv.push('\n');
    csv.push_str(fixture.train_csv.lines().nth(1).unwrap());
    csv.push('\n');
    let (status, body) = api_error(upload("wine-more", csv).await);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.detail.contains("split-rows"), "{}", body.detail);
    assert!(
        body.detail.contains(&(work + ensemble.splits() as u64).to_string()),
        "{}",
        body.detail
    );

    // Within the work bound, but no input precision's circuit within one bootstrap a
    // prediction: the compilation fails, saying what one prediction would cost.
    let failed = alice.wait_compiled("wine", Duration::from_secs(120)).await.unwrap();
    assert_eq!(failed.state, ModelState::Failed);
    let error = failed.error.unwrap_or_default();
    assert!(
        error.contains("more than the 1 this server evaluates per prediction"),
        "{error}"
    );
    alice.delete_owner_model("wine").await.unwrap();
    app.stop().await;

    // A compilation past its time is stopped at its next step; a compiling model, running or
    // waiting its turn, may be deleted, which stops its compilation; its id is free again.
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.first_account_owner = true;
        s.max_compile_s = 0;
    })
    .await;
    let mut alice = app.client();
    alice.login("alice", PASSWORD).await.unwrap();
    upload_wine(&alice, "slow").await.unwrap();
    let slow = alice.wait_compiled("slow", Duration::from_secs(120)).await.unwrap();
    assert_eq!(slow.state, ModelState::Failed);
    let error = slow.error.unwrap_or_default();
    assert!(error.contains("took longer than 0 s"), "{error}");
    app.stop().await;

    let app = TestApp::spawn_with(dir.path(), |s| s.first_account_owner = true).await;
    let mut alice = app.client();
    alice.login("alice", PASSWORD).await.unwrap();
    for id in ["first", "second"] {
        let model = upload_wine(&alice, id).await.unwrap();
        assert_eq!(model.state, ModelState::Compiling);
    }
    // `second` waits for `first` (one compilation at a time): both deleted while compiling.
    alice.delete_owner_model("second").await.unwrap();
    alice.delete_owner_model("first").await.unwrap();
    let left: Vec<String> = alice.owner_models().await.unwrap().into_iter().map(|m| m.id).collect();
    assert!(!left.iter().any(|id| id == "first" || id == "second"), "{left:?}");
    // The same id again compiles into a draft of its own, untouched by the stopped one.
    upload_wine(&alice, "first").await.unwrap();
    let again = alice.wait_compiled("first", Duration::from_secs(120)).await.unwrap();
    assert_eq!(again.state, ModelState::Draft, "{:?}", again.error);
    assert!(alice.owner_model("second").await.is_err());
    app.stop().await;
}

#[tokio::test]
async fn owners_declare_valid_ranges_that_users_see_and_the_spec_stays_the_same() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| s.first_account_owner = true).await;
    let alice = app.user("alice").await;
    upload_wine(&alice, "wine").await.unwrap();
    alice.wait_compiled("wine", Duration::from_secs(120)).await.unwrap();
    alice.publish_model("wine").await.unwrap();
    let spec_before = alice.spec_json("wine").await.unwrap();

    let ranged = |valid_min, valid_max| ModelDetails {
        name: "Wine cultivars".to_owned(),
        description: String::new(),
        inputs: vec![FeatureInfo {
            name: "alcohol".to_owned(),
            unit: "% vol".to_owned(),
            valid_min,
            valid_max,
            ..FeatureInfo::default()
        }],
    };
    let saved = alice
        .update_owner_model("wine", &ranged(Some(0.0), Some(100.0)))
        .await
        .unwrap();
    let alcohol = saved.inputs.iter().find(|i| i.name == "alcohol").unwrap();
    assert_eq!((alcohol.valid_min, alcohol.valid_max), (Some(0.0), Some(100.0)));
    // Users see it in the catalogue; the spec rows are bound to is unchanged.
    let listed = app.client().models().await.unwrap();
    let wine = listed.iter().find(|m| m.id == "wine").unwrap();
    let alcohol = wine.inputs.iter().find(|i| i.name == "alcohol").unwrap();
    assert_eq!((alcohol.valid_min, alcohol.valid_max), (Some(0.0), Some(100.0)));
    assert!(alcohol.check(150.0).unwrap_err().contains("from 0 to 100"));
    assert_eq!(alice.spec_json("wine").await.unwrap(), spec_before);
    // One end only is a range too; an empty one is refused with the field.
    alice
        .update_owner_model("wine", &ranged(Some(0.0), None))
        .await
        .unwrap();
    let (status, body) = api_error(alice.update_owner_model("wine", &ranged(Some(20.0), Some(10.0))).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body.error, "validation");
    let problems = body.fields.get("inputs").cloned().unwrap_or_default();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`alcohol`") && p.contains("minimum")),
        "{problems:?}"
    );
    app.stop().await;
}

/// Uploads `fixture` as model `id` (its training rows for calibration, its test rows for the
/// report) and waits for its compilation: the draft, compiled.
async fn upload_fixture(owner: &ApiClient, fixture: &Fixture, upload: &ModelUpload) -> OwnedModel {
    owner
        .upload_owner_model(
            upload,
            fixture.model.to_vec(),
            fixture.train_csv.to_owned(),
            Some(fixture.test_csv.to_owned()),
        )
        .await
        .unwrap();
    let draft = owner.wait_compiled(&upload.id, Duration::from_secs(300)).await.unwrap();
    assert_eq!(draft.state, ModelState::Draft, "{:?}", draft.error);
    draft
}

/// A linear model behind its scaler (scikit-learn's logistic regression through ONNX) goes the
/// trees' way: uploaded, compiled (no bootstrap), published, and predicted with exactly, under
/// the key the user already has.
#[tokio::test]
async fn an_owner_publishes_a_linear_model_that_users_predict_with_exactly() {
    let dir = TempDir::new().unwrap();
    let (app, alice, bob) = owner_and_user(dir.path()).await;
    let fixture = SKLEARN_LOGISTIC_REGRESSION;
    let id = "tumour-logistic";
    let upload = ModelUpload {
        id: id.to_owned(),
        name: "Breast cancer (logistic regression)".to_owned(),
        description: "A linear model.".to_owned(),
        labels: vec!["Malignant".to_owned(), "Benign".to_owned()],
        inputs: Vec::new(),
    };
    let draft = upload_fixture(&alice, &fixture, &upload).await;
    let report = draft.report.clone().unwrap();
    assert_eq!(report.format, "ONNX");
    assert_eq!(report.cost.family, ModelFamily::Linear);
    assert_eq!(report.cost.bootstraps, 0);
    assert_eq!(report.cost.ciphertexts, 30, "one ciphertext per feature");
    assert!(report.evaluation.target_met, "{report:?}");
    alice.publish_model(id).await.unwrap();

    // A network of two hidden layers is read, and refused at once (422) with the reason.
    let network = TORCH_MLP;
    let (code, body) = api_error(
        alice
            .upload_owner_model(
                &ModelUpload {
                    id: "tumour-mlp".to_owned(),
                    ..upload.clone()
                },
                network.model.to_vec(),
                network.train_csv.to_owned(),
                None,
            )
            .await,
    );
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body:?}");
    assert!(body.detail.contains("2 hidden layers"), "{}", body.detail);

    let spec = fetch_spec(&bob, id).await;
    let expected_model = fixture.compile_any().unwrap();
    assert_eq!(&spec, expected_model.spec());
    let (test_rows, _) = fixture.test_rows().unwrap();
    for row in &test_rows[..3] {
        let encrypted = encrypt_row(&spec, &KEYS.client, row).unwrap().to_bytes();
        assert!(encrypted.len() <= 4000, "{} bytes", encrypted.len());
        let job = submit_row(&bob, id, encrypted).await.unwrap();
        let job = bob.wait(&job.id, Duration::from_secs(60), |_| {}).await.unwrap();
        assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
        let result = bob.result(&job.id).await.unwrap();
        assert!(result.len() <= 4000, "{} bytes", result.len());
        let prediction = decrypt_prediction(&spec, &KEYS.client, &result).unwrap();
        assert_eq!(prediction, expected_model.predict_clear(row).unwrap());
    }
    app.stop().await;
}

/// A classifier without probabilities (scikit-learn's multiclass LinearSVC): the catalogue says
/// so, and a user's decrypted prediction is the clear quantized model's, decision scores and
/// class, with no probabilities.
#[tokio::test]
async fn a_linear_svm_is_served_with_decision_scores() {
    let dir = TempDir::new().unwrap();
    let (app, alice, bob) = owner_and_user(dir.path()).await;
    let fixture = SKLEARN_LINEAR_SVC_WINE;
    let id = "wine-svm";
    let upload = ModelUpload {
        id: id.to_owned(),
        name: "Wine (linear SVM)".to_owned(),
        description: "Decision scores, no probabilities.".to_owned(),
        labels: fixture.labels.iter().map(|l| l.to_string()).collect(),
        inputs: Vec::new(),
    };
    let draft = upload_fixture(&alice, &fixture, &upload).await;
    let report = draft.report.clone().unwrap();
    assert_eq!(report.cost.family, ModelFamily::Linear);
    assert_eq!(report.confusion.len(), 3, "{report:?}");
    alice.publish_model(id).await.unwrap();
    let summary = bob.models().await.unwrap().into_iter().find(|m| m.id == id).unwrap();
    assert_eq!(
        summary.objective,
        blindfold_api::Objective::DecisionScores { classes: 3 }
    );

    let spec = fetch_spec(&bob, id).await;
    let expected_model = fixture.compile_any().unwrap();
    let (test_rows, _) = fixture.test_rows().unwrap();
    for row in &test_rows[..2] {
        let encrypted = encrypt_row(&spec, &KEYS.client, row).unwrap().to_bytes();
        let job = submit_row(&bob, id, encrypted).await.unwrap();
        let job = bob.wait(&job.id, Duration::from_secs(60), |_| {}).await.unwrap();
        assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
        let prediction = decrypt_prediction(&spec, &KEYS.client, &bob.result(&job.id).await.unwrap()).unwrap();
        assert_eq!(prediction, expected_model.predict_clear(row).unwrap());
        assert!(prediction.probabilities.is_empty());
        assert_eq!(prediction.scores.len(), 3);
        let best = (0..3)
            .max_by(|&a, &b| prediction.scores[a].total_cmp(&prediction.scores[b]))
            .unwrap();
        assert_eq!(prediction.class.as_deref(), Some(fixture.labels[best]));
    }
    app.stop().await;
}

/// An MLP classifier (scikit-learn's, behind its scaler, through ONNX) is uploaded, compiled
/// (three bootstraps per hidden neuron), published, and predicted with exactly under the key
/// the user already has: its row is encrypted under the big key, which that key holds.
#[tokio::test]
async fn an_owner_publishes_a_network_that_users_predict_with_exactly() {
    let dir = TempDir::new().unwrap();
    let (app, alice, bob) = owner_and_user(dir.path()).await;
    let fixture = SKLEARN_MLP_CLASSIFIER;
    let id = "tumour-mlp";
    let upload = ModelUpload {
        id: id.to_owned(),
        name: "Breast cancer (MLP)".to_owned(),
        description: "A neural network of one hidden layer.".to_owned(),
        labels: vec!["Malignant".to_owned(), "Benign".to_owned()],
        inputs: Vec::new(),
    };
    let draft = upload_fixture(&alice, &fixture, &upload).await;
    let report = draft.report.clone().unwrap();
    assert_eq!(report.cost.family, ModelFamily::Network);
    assert_eq!(report.cost.bootstraps, 90, "30 hidden neurons, one output");
    assert_eq!(report.cost.ciphertexts, 30, "one ciphertext per feature");
    alice.publish_model(id).await.unwrap();

    let spec = fetch_spec(&bob, id).await;
    let expected_model = fixture.compile_any().unwrap();
    assert_eq!(&spec, expected_model.spec());
    let (test_rows, _) = fixture.test_rows().unwrap();
    for row in &test_rows[..2] {
        let encrypted = encrypt_row(&spec, &KEYS.client, row).unwrap().to_bytes();
        let job = submit_row(&bob, id, encrypted).await.unwrap();
        let job = bob.wait(&job.id, Duration::from_secs(120), |_| {}).await.unwrap();
        assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
        let result = bob.result(&job.id).await.unwrap();
        let prediction = decrypt_prediction(&spec, &KEYS.client, &result).unwrap();
        assert_eq!(prediction, expected_model.predict_clear(row).unwrap());
    }
    // A small-key row (a linear model's shape) is refused at once.
    let mut small = spec.clone();
    small.encryption = blindfold_model::params::InputEncoding::Linear(blindfold_model::params::LinearEncoding::new(10));
    let wrong = encrypt_row(&small, &KEYS.client, &test_rows[0]).unwrap().to_bytes();
    let (status, _) = api_error(submit_row(&bob, id, wrong).await);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}
