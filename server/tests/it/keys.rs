//! One server key per user serves every model; the per-model keys of earlier versions are
//! migrated to it.

use blindfold_model::fixtures::{BREAST_CANCER, WINE};
use blindfold_model::params::PARAMETER_SET_NAME;
use blindfold_model::{decrypt_prediction, encrypt_row};
use blindfold_server::db::{self, Backend};
use blindfold_server::services::accounts::password;
use blindfold_server::services::catalogue::ModelCatalogue;
use blindfold_server::testing::{self, PASSWORD, TestApp, database, database_url};
use reqwest::StatusCode;
use std::time::Duration;
use tempfile::TempDir;

use crate::{KEYS, MODEL, fetch_spec, status, stored, submit_row};

/// The first migration of one key per user.
const USER_KEYS_MIGRATION: i64 = 20261127000001;

#[tokio::test]
async fn one_key_serves_every_model() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 1).await;
    let wine = WINE.compile().unwrap();
    ModelCatalogue::new(database(dir.path()).await)
        .install("wine", "Wine", &wine, &[])
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

    // The per-model routes of earlier clients reach the same key.
    let through_model = alice.upload_model_key("wine", KEYS.server.clone()).await.unwrap();
    assert_eq!(through_model.fingerprint, info.fingerprint);
    assert_eq!(alice.key_info().await.unwrap(), through_model);
    assert_eq!(
        status(alice.upload_model_key("no-such-model", KEYS.server.clone()).await),
        StatusCode::NOT_FOUND
    );
    assert_eq!(stored(dir.path(), "keys/").await.len(), 1, "one key stored");
    alice.delete_key().await.unwrap();
    assert_eq!(status(alice.key_info().await), StatusCode::NOT_FOUND);
    assert!(stored(dir.path(), "keys/").await.is_empty());
    app.stop().await;
}

/// A database of the per-model era with two keys for one user (the older under `wine`, the
/// newer under the default model) and one for another user: after the upgrade each user has
/// the key they uploaded last, its file (SQLite) renamed, the other file gone, and it works.
#[tokio::test]
async fn per_model_keys_are_migrated_to_the_newest_one() {
    let dir = TempDir::new().unwrap();
    let url = database_url(dir.path()).await;
    let old = db::connect_as_of(&url, USER_KEYS_MIGRATION).await.unwrap();
    // Models as that schema had them.
    for (id, fixture) in [(MODEL, BREAST_CANCER), ("wine", WINE)] {
        let compiled = fixture.compile().unwrap();
        sqlx::query("INSERT INTO models (id, name, spec_json, plan_json, created_at) VALUES ($1, $2, $3, $4, 0)")
            .bind(id)
            .bind(fixture.name)
            .bind(compiled.spec.to_json())
            .bind(compiled.plan.to_json())
            .execute(&old.pool)
            .await
            .unwrap();
    }
    let hash = password::hash(PASSWORD).unwrap();
    let mut users = Vec::new();
    for name in ["alice", "bob"] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, username_key, password_hash, created_at) VALUES ($1, $1, $2, 0) RETURNING id",
        )
        .bind(name)
        .bind(&hash)
        .fetch_one(&old.pool)
        .await
        .unwrap();
        users.push(id);
    }
    let stale = vec![7u8; 1000];
    let keys = [
        (users[0], "wine", &stale, 1),
        (users[0], MODEL, &KEYS.server, 2),
        (users[1], "wine", &KEYS.server, 1),
    ];
    let fingerprint = |bytes: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
    for (user, model, bytes, uploaded_at) in keys {
        let fp = fingerprint(bytes);
        let (columns, values) = match testing::backend() {
            Backend::Sqlite => {
                let path = dir.path().join(format!("keys/{user}/{model}-{fp}.key"));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
                ("", "")
            }
            Backend::Postgres => (", key_bytes", ", $6"),
        };
        sqlx::query(&format!(
            "INSERT INTO server_keys (user_id, model_id, size_bytes, fingerprint, uploaded_at{columns})
             VALUES ($1, $2, $3, $4, $5{values})"
        ))
        .bind(user)
        .bind(model)
        .bind(bytes.len() as i64)
        .bind(&fp)
        .bind(uploaded_at)
        .bind_if_postgres(bytes.to_vec())
        .execute(&old.pool)
        .await
        .unwrap();
    }
    old.pool.close().await;

    let app = TestApp::spawn(dir.path(), 1).await;
    let key = fingerprint(&KEYS.server);
    let expected: Vec<String> = users
        .iter()
        .map(|user| format!("keys/{user}/{PARAMETER_SET_NAME}-{key}.key"))
        .collect();
    assert_eq!(stored(dir.path(), "keys/").await, expected);
    let mut alice = app.client();
    alice.login("alice", PASSWORD).await.unwrap();
    let info = alice.key_info().await.unwrap();
    assert_eq!((info.fingerprint.as_str(), info.uploaded_at), (key.as_str(), 2));
    // The migrated key works, for a model it was not uploaded for too.
    let spec = fetch_spec(&alice, "wine").await;
    let (rows, _) = WINE.test_rows().unwrap();
    let encrypted = encrypt_row(&spec, &KEYS.client, &rows[0]).unwrap().to_bytes();
    let job = submit_row(&alice, "wine", encrypted).await.unwrap();
    let job = alice.wait(&job.id, Duration::from_secs(120), |_| {}).await.unwrap();
    let result = alice.result(&job.id).await.unwrap();
    decrypt_prediction(&spec, &KEYS.client, &result).unwrap();
    app.stop().await;
}

/// Binds the key bytes only where the statement has a column for them.
trait BindIfPostgres<'q> {
    fn bind_if_postgres(self, bytes: Vec<u8>) -> Self;
}

impl<'q> BindIfPostgres<'q> for sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    fn bind_if_postgres(self, bytes: Vec<u8>) -> Self {
        match testing::backend() {
            Backend::Postgres => self.bind(bytes),
            Backend::Sqlite => self,
        }
    }
}
