//! Accounts on the real server: bounded work per request, the abuse limits (password guesses,
//! registrations) shared through the database, usernames under NFKC and case, the account
//! lifecycle, session lifetimes, and the caching and cookie headers.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use blindfold_api::client::{ApiClient, ClientError};
use blindfold_api::{ErrorBody, SECURE_SESSION_COOKIE, SESSION_COOKIE, paths};
use blindfold_model::encrypt_row;
use blindfold_server::Settings;
use blindfold_server::testing::{PASSWORD, TestApp};
use futures_util::future::join_all;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, COOKIE, RETRY_AFTER, SET_COOKIE, STRICT_TRANSPORT_SECURITY};
use serde_json::json;
use tempfile::TempDir;

use crate::{COMPILED, KEYS, MODEL, fetch_spec, predict, rows_of_each_class, status, submit_row};

const NEW_PASSWORD: &str = "purple elephant umbrella";

/// Requests as if from `address`, through a trusted proxy on the loopback address.
#[derive(Clone)]
struct From {
    http: reqwest::Client,
    base: String,
    address: &'static str,
}

impl From {
    fn new(app: &TestApp, address: &'static str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: app.base.clone(),
            address,
        }
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("x-forwarded-for", self.address)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.post(paths::LOGIN, json!({ "username": username, "password": password }))
            .await
    }

    async fn register(&self, username: &str) -> reqwest::Response {
        self.post(
            paths::REGISTER,
            json!({ "username": username, "password": PASSWORD, "password_confirmation": PASSWORD }),
        )
        .await
    }
}

fn behind_a_proxy(settings: &mut Settings) {
    settings.trusted_proxy = vec!["127.0.0.1".parse().unwrap()];
}

/// The API error of a call that must fail.
fn api_error<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (StatusCode, ErrorBody) {
    match result.expect_err("the call should fail") {
        ClientError::Api { status, body } => (status, body),
        other => panic!("not an API error: {other}"),
    }
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn oversized_account_forms_are_refused_first_and_other_requests_stay_answered() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| s.password_hashers = Some(1)).await;
    let http = reqwest::Client::new();

    // Health checks and page loads (rendered on the server) run all along and must each be
    // answered within a second.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let health = tokio::spawn({
        let (http, urls) = (http.clone(), [app.url("/healthz"), app.url("/login")]);
        async move {
            let mut slowest = Duration::ZERO;
            let mut checks = 0;
            loop {
                let started = Instant::now();
                let response = http.get(&urls[checks % urls.len()]).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                slowest = slowest.max(started.elapsed());
                checks += 1;
                if stopped.try_recv().is_ok() {
                    return (checks, slowest);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });

    // Huge forms are cut off at 16 KiB; forms under that but with fields over their length are
    // refused field by field. Wrong logins with acceptable lengths (argon2 each) come as well.
    let huge = "x".repeat(150_000);
    let long = "y".repeat(5_000);
    let mut requests = Vec::new();
    for i in 0..24 {
        let body = if i % 2 == 0 {
            json!({ "username": huge, "password": huge, "password_confirmation": huge })
        } else {
            json!({ "username": long, "password": long, "password_confirmation": long })
        };
        let request = http.post(app.url(paths::REGISTER)).json(&body).send();
        requests.push(tokio::spawn(async move {
            let response = request.await.unwrap();
            let status = response.status();
            (i, status, response.json::<ErrorBody>().await.unwrap())
        }));
    }
    let guesses: Vec<_> = (0..16)
        .map(|i| {
            let request = http
                .post(app.url(paths::LOGIN))
                .json(&json!({ "username": format!("nobody{i}"), "password": "p".repeat(256) }))
                .send();
            tokio::spawn(async move { request.await.unwrap().status() })
        })
        .collect();

    for answer in join_all(requests).await {
        let (i, status, body) = answer.unwrap();
        if i % 2 == 0 {
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body:?}");
            assert_eq!(body.error, "too_large");
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
            assert_eq!(body.error, "validation");
            assert!(body.fields["username"][0].contains("at most 150"), "{body:?}");
            assert!(body.fields["password"][0].contains("at most 256"), "{body:?}");
            assert!(body.fields["password_confirmation"][0].contains("at most 256"));
        }
    }
    for guess in join_all(guesses).await {
        assert_eq!(guess.unwrap(), StatusCode::UNAUTHORIZED);
    }
    stop.send(()).unwrap();
    let (checks, slowest) = health.await.unwrap();
    assert!(checks >= 3, "{checks}");
    assert!(slowest < Duration::from_secs(1), "a health check took {slowest:?}");

    // A login form over its lengths is refused the same way, and none of the refused forms used
    // up this address's registrations.
    let response = http
        .post(app.url(paths::LOGIN))
        .json(&json!({ "username": "alice", "password": "p".repeat(257) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: ErrorBody = response.json().await.unwrap();
    assert!(body.fields["password"][0].contains("at most 256"));
    app.user("alice").await;
    app.stop().await;
}

#[tokio::test]
async fn parallel_wrong_passwords_are_counted_before_any_is_checked() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        s.login_attempts_per_user = 3;
        // A hundred connections at once from one address, which the default would refuse.
        s.max_connections_per_address = 256;
    })
    .await;
    app.user("victim").await;
    let http = reqwest::Client::new();
    let guess = |password: &'static str| {
        let request = http
            .post(app.url(paths::LOGIN))
            .json(&json!({ "username": "victim", "password": password }))
            .send();
        async move { request.await.unwrap().status() }
    };
    let count = |statuses: &[StatusCode], wanted| statuses.iter().filter(|s| **s == wanted).count();

    // From nothing: exactly the three free guesses are checked, however many arrive at once.
    let statuses = join_all((0..100).map(|_| guess("wrong password 1"))).await;
    assert_eq!(count(&statuses, StatusCode::UNAUTHORIZED), 3, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 97, "{statuses:?}");

    // Once the throttle is engaged, at most one is checked: the one that may arrive as the
    // first wait (1 s) runs out, which starts the next (2 s).
    let statuses = join_all((0..100).map(|_| guess("wrong password 2"))).await;
    assert!(count(&statuses, StatusCode::UNAUTHORIZED) <= 1, "{statuses:?}");
    assert!(count(&statuses, StatusCode::TOO_MANY_REQUESTS) >= 99, "{statuses:?}");
    app.stop().await;
}

#[tokio::test]
async fn failed_logins_are_remembered_across_a_restart() {
    let dir = TempDir::new().unwrap();
    let configure = |s: &mut Settings| s.login_attempts_per_user = 3;
    let app = TestApp::spawn_with(dir.path(), configure).await;
    app.user("frank").await;
    let mut client = app.client();
    for _ in 0..2 {
        assert_eq!(
            status(client.login("frank", "not the password").await),
            StatusCode::UNAUTHORIZED
        );
    }
    app.stop().await;

    let app = TestApp::spawn_with(dir.path(), configure).await;
    let mut client = app.client();
    // The third failure is the last free one only if the first two were kept.
    assert_eq!(
        status(client.login("frank", "not the password").await),
        StatusCode::UNAUTHORIZED
    );
    let response = reqwest::Client::new()
        .post(app.url(paths::LOGIN))
        .json(&json!({ "username": "frank", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&response) >= 1);
    app.stop().await;
}

#[tokio::test]
async fn the_owner_is_not_locked_out_by_guesses_from_elsewhere() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), behind_a_proxy).await;
    let owner = From::new(&app, "198.51.100.7");
    let attacker = From::new(&app, "203.0.113.9");
    assert_eq!(owner.register("grace").await.status(), StatusCode::CREATED);

    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(attacker.login("grace", "guess guess guess").await.status());
    }
    assert_eq!(statuses[..5], [StatusCode::UNAUTHORIZED; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [StatusCode::TOO_MANY_REQUESTS; 3], "{statuses:?}");
    // Case and compatibility forms of the name are the same username for the throttle too.
    assert_eq!(
        attacker.login("\u{FF27}RACE", "guess").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // The owner's own address has its own count: a typo, then the right password.
    assert_eq!(owner.login("grace", "typo").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(owner.login("grace", PASSWORD).await.status(), StatusCode::OK);
    // The attacker's address is still waiting.
    assert_eq!(
        attacker.login("grace", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    app.stop().await;
}

#[tokio::test]
async fn registrations_are_limited_per_address() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        behind_a_proxy(s);
        s.registrations_per_hour = 2;
    })
    .await;
    let busy = From::new(&app, "192.0.2.10");
    // A refused form does not use up the allowance.
    let refused = busy
        .post(
            paths::REGISTER,
            json!({ "username": "bad name", "password": PASSWORD, "password_confirmation": PASSWORD }),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(busy.register("first").await.status(), StatusCode::CREATED);
    assert_eq!(busy.register("second").await.status(), StatusCode::CREATED);
    let limited = busy.register("third").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&limited);
    assert!((3500..=3600).contains(&wait), "{wait}");
    let body: ErrorBody = limited.json().await.unwrap();
    assert_eq!(body.error, "rate_limited");

    // Another address is not affected.
    let other = From::new(&app, "192.0.2.11");
    assert_eq!(other.register("third").await.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn registrations_are_limited_per_ipv6_48_across_its_64s() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        behind_a_proxy(s);
        s.registrations_per_hour_per_ipv6_48 = 2;
    })
    .await;
    // Each /64 has its own allowance of 10; the /48 they share, 2.
    for (i, address) in ["2001:db8:1:1::1", "2001:db8:1:2::1"].into_iter().enumerate() {
        let created = From::new(&app, address).register(&format!("site{i}")).await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let refused = From::new(&app, "2001:db8:1:3::1").register("site3").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&refused) > 0);
    let body: ErrorBody = refused.json().await.unwrap();
    assert!(body.detail.contains("2001:db8:1::/48"), "{}", body.detail);
    // Another /48, and IPv4 addresses, are untouched; the refusal used up no /64's allowance.
    assert_eq!(
        From::new(&app, "2001:db8:2::1").register("elsewhere").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        From::new(&app, "192.0.2.9").register("ipv4").await.status(),
        StatusCode::CREATED
    );
    app.stop().await;
}

#[tokio::test]
async fn usernames_are_compared_under_nfkc_and_case() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let mut client = app.client();
    let session = client.register(" \u{FF21}lice ", PASSWORD, PASSWORD).await.unwrap();
    assert_eq!(session.username, "Alice", "stored as NFKC, trimmed");

    let (code, body) = api_error(app.client().register("alice", PASSWORD, PASSWORD).await);
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(body.fields["username"].join(" ").contains("already exists"), "{body:?}");

    for typed in ["alice", "ALICE", "\u{FF41}lice"] {
        let session = app.client().login(typed, PASSWORD).await.unwrap();
        assert_eq!(session.username, "Alice", "{typed}");
    }
    app.stop().await;
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_only() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let here = app.user("heidi").await;
    let mut elsewhere = app.client();
    elsewhere.login("heidi", PASSWORD).await.unwrap();

    let (code, body) = api_error(here.change_password("not it", NEW_PASSWORD, NEW_PASSWORD).await);
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(
        (body.error.as_str(), body.detail.as_str()),
        ("wrong_password", "wrong password")
    );
    let (code, body) = api_error(here.change_password(PASSWORD, "heidi123", "heidi123").await);
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(body.fields["new_password"].join(" ").contains("similar"), "{body:?}");
    let (code, body) = api_error(here.change_password(PASSWORD, NEW_PASSWORD, "something else").await);
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(body.fields["new_password"].join(" ").contains("match"), "{body:?}");
    assert!(elsewhere.whoami().await.is_ok(), "refused changes end nothing");

    here.change_password(PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
        .await
        .unwrap();
    assert_eq!(here.whoami().await.unwrap(), "heidi", "this session stays");
    assert_eq!(status(elsewhere.whoami().await), StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(app.client().login("heidi", PASSWORD).await),
        StatusCode::UNAUTHORIZED
    );
    app.client().login("heidi", NEW_PASSWORD).await.unwrap();

    // The current password is a password guess: wrong ones are throttled like logins.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(status(here.change_password("guess", PASSWORD, PASSWORD).await));
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    app.stop().await;
}

#[tokio::test]
async fn logging_out_everywhere_ends_every_session() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let first = app.user("ivan").await;
    let mut second = app.client();
    second.login("ivan", PASSWORD).await.unwrap();
    let session = second.session().cloned();

    let http = reqwest::Client::new();
    let response = http
        .delete(app.url(paths::ACCOUNT_SESSIONS))
        .header(COOKIE, format!("{SESSION_COOKIE}={}", session.as_ref().unwrap().token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "needs the CSRF header");

    second.log_out_everywhere().await.unwrap();
    assert_eq!(status(first.whoami().await), StatusCode::UNAUTHORIZED);
    let stale = app.client().with_session(session);
    assert_eq!(status(stale.whoami().await), StatusCode::UNAUTHORIZED);
    app.client().login("ivan", PASSWORD).await.unwrap();
    app.stop().await;
}

/// Everything stored for the server on `data_dir` (see [`crate::stored`]), and with files
/// the users' key directories too: a deleted account's goes with it.
async fn stored(data_dir: &Path) -> BTreeSet<String> {
    let mut found: BTreeSet<String> = crate::stored(data_dir, "").await.into_iter().collect();
    if let Ok(entries) = std::fs::read_dir(data_dir.join("keys")) {
        for entry in entries {
            found.insert(format!("keys/{}/", entry.unwrap().file_name().to_string_lossy()));
        }
    }
    found
}

#[tokio::test]
async fn deleting_an_account_leaves_nothing_of_it() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 1).await;
    let bob = app.user("bob").await;
    bob.upload_key(KEYS.server.clone()).await.unwrap();
    let before = stored(dir.path()).await;

    let alice = app.user("alice").await;
    alice.upload_key(KEYS.server.clone()).await.unwrap();
    let spec = fetch_spec(&alice, MODEL).await;
    let (row, _) = rows_of_each_class().remove(0);
    predict(&alice, &spec, &row).await;
    let session = alice.session().cloned();
    app.stop().await;

    // No workers now: the next prediction stays queued, its encrypted row on disk.
    let app = TestApp::spawn(dir.path(), 0).await;
    let mut alice = app.client().with_session(session.clone());
    let encrypted = encrypt_row(&COMPILED.spec, &KEYS.client, &row).unwrap().to_bytes();
    submit_row(&alice, MODEL, encrypted).await.unwrap();
    let with_alice = stored(dir.path()).await;
    let added = with_alice.difference(&before).count();
    assert!(added >= 3, "a key, a row, a result: {with_alice:?}");

    let (code, body) = api_error(alice.delete_account("not my password").await);
    assert_eq!(
        (code, body.detail.as_str()),
        (StatusCode::UNAUTHORIZED, "wrong password")
    );
    alice.delete_account(PASSWORD).await.unwrap();

    assert_eq!(stored(dir.path()).await, before, "only bob's data is left");
    let stale = app.client().with_session(session);
    assert_eq!(status(stale.whoami().await), StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(app.client().login("alice", PASSWORD).await),
        StatusCode::UNAUTHORIZED
    );
    let bob = app.client().with_session(bob.session().cloned());
    assert_eq!(bob.key_info().await.unwrap().size_bytes as usize, KEYS.server.len());
    // The name is free again, for a new account with nothing in it.
    let fresh = app.user("alice").await;
    assert!(fresh.jobs().await.unwrap().is_empty());
    assert_eq!(status(fresh.key_info().await), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn sessions_past_their_lifetime_or_idle_time_are_refused() {
    for configure in [
        (|s: &mut Settings| s.session_lifetime_hours = 0) as fn(&mut Settings),
        |s: &mut Settings| s.session_idle_hours = 0,
    ] {
        let dir = TempDir::new().unwrap();
        let app = TestApp::spawn_with(dir.path(), configure).await;
        let client = app.user("judy").await;
        assert_eq!(status(client.whoami().await), StatusCode::UNAUTHORIZED);
        app.stop().await;
    }
    // With the defaults the same session lives on.
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    assert_eq!(app.user("judy").await.whoami().await.unwrap(), "judy");
    app.stop().await;
}

#[tokio::test]
async fn a_user_holds_a_bounded_number_of_sessions_and_the_oldest_ends_first() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| s.max_sessions_per_user = 2).await;
    let first = app.user("mallory").await;
    let mut second = app.client();
    second.login("mallory", PASSWORD).await.unwrap();
    let mut third = app.client();
    third.login("mallory", PASSWORD).await.unwrap();
    assert_eq!(status(first.whoami().await), StatusCode::UNAUTHORIZED);
    assert_eq!(second.whoami().await.unwrap(), "mallory");
    assert_eq!(third.whoami().await.unwrap(), "mallory");
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&blindfold_server::testing::database(dir.path()).await)
        .await
        .unwrap();
    assert_eq!(sessions, 2);
    app.stop().await;
}

#[tokio::test]
async fn correct_logins_are_limited_per_account_before_any_password_is_hashed() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| {
        behind_a_proxy(s);
        s.logins_per_account_per_hour = 3;
    })
    .await;
    app.user("niaj").await;
    // Wrong passwords do not use up the owner's allowance (the guess limits count those).
    let guesser = From::new(&app, "192.0.2.66");
    for _ in 0..2 {
        assert_eq!(
            guesser.login("niaj", "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Parallel correct logins from many addresses: three pass, the rest are refused unhashed.
    let addresses = [
        "192.0.2.1",
        "192.0.2.2",
        "192.0.2.3",
        "192.0.2.4",
        "192.0.2.5",
        "192.0.2.6",
    ];
    let logins = addresses.map(|address| {
        let from = From::new(&app, address);
        tokio::spawn(async move { from.login("niaj", PASSWORD).await })
    });
    let mut statuses = Vec::new();
    for login in join_all(logins).await {
        let response = login.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(retry_after(&response) > 0);
            let body: ErrorBody = response.json().await.unwrap();
            assert!(body.detail.contains("at most 3 an hour"), "{}", body.detail);
            statuses.push(StatusCode::TOO_MANY_REQUESTS);
        } else {
            statuses.push(response.status());
        }
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [[StatusCode::OK; 3], [StatusCode::TOO_MANY_REQUESTS; 3]].concat(),
        "{statuses:?}"
    );
    // Another account is untouched.
    app.user("olivia").await;
    app.stop().await;
}

#[tokio::test]
async fn pages_and_user_data_are_never_cached() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    let http = reqwest::Client::new();
    let response = http.post(app.url(paths::REGISTER)).json(&json!({
        "username": "kim", "password": PASSWORD, "password_confirmation": PASSWORD
    }));
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let cookie = response.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    for path in [
        "/",
        "/account",
        paths::SESSION,
        paths::PREDICTIONS,
        paths::MODELS,
        "/api/no-such-route",
    ] {
        let response = http.get(app.url(path)).header(COOKIE, &cookie).send().await.unwrap();
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store", "{path}");
    }
    // Oversized bodies are refused in JSON too.
    let response = http
        .post(app.url(paths::LOGIN))
        .header("content-type", "application/json")
        .body(vec![b' '; 20_000])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(response.json::<ErrorBody>().await.unwrap().error, "too_large");
    assert!(
        http.get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .headers()
            .get(STRICT_TRANSPORT_SECURITY)
            .is_none(),
        "no HSTS without secure cookies"
    );
    app.stop().await;
}

#[tokio::test]
async fn secure_cookies_are_host_prefixed_and_hsts_is_sent() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| s.secure_cookies = true).await;
    let http = reqwest::Client::new();
    let response = http
        .post(app.url(paths::REGISTER))
        .json(&json!({ "username": "leo", "password": PASSWORD, "password_confirmation": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.headers()[STRICT_TRANSPORT_SECURITY],
        "max-age=31536000; includeSubDomains"
    );
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        set_cookie.starts_with(&format!("{SECURE_SESSION_COOKIE}=")),
        "{set_cookie}"
    );
    for attribute in ["Secure", "HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(
            set_cookie.split("; ").any(|a| a == attribute),
            "{attribute}: {set_cookie}"
        );
    }
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    let token = set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();

    // Only the prefixed name is believed.
    let plain = http
        .get(app.url(paths::SESSION))
        .header(COOKIE, format!("{SESSION_COOKIE}={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);
    assert!(plain.headers().contains_key(STRICT_TRANSPORT_SECURITY));
    let page = http.get(app.url("/healthz")).send().await.unwrap();
    assert!(page.headers().contains_key(STRICT_TRANSPORT_SECURITY));

    // The API client keeps the name it was given.
    let mut client: ApiClient = app.client();
    let session = client.login("leo", PASSWORD).await.unwrap();
    assert_eq!(session.cookie_name, SECURE_SESSION_COOKIE);
    assert_eq!(client.whoami().await.unwrap(), "leo");
    let response = http
        .post(app.url(paths::LOGOUT))
        .header(COOKIE, format!("{SECURE_SESSION_COOKIE}={}", session.token))
        .header(blindfold_api::CSRF_HEADER, &session.csrf_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let removal = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(removal.starts_with(&format!("{SECURE_SESSION_COOKIE}=;")), "{removal}");
    assert!(removal.contains("Secure") && removal.contains("Max-Age=0"), "{removal}");
    app.stop().await;
}

/// The throttle's subjects, as stored.
async fn throttle_subjects(dir: &Path) -> Vec<String> {
    let db = blindfold_server::testing::database(dir).await;
    let subjects = sqlx::query_scalar("SELECT subject FROM throttles ORDER BY scope, subject")
        .fetch_all(&db)
        .await
        .unwrap();
    db.close().await;
    subjects
}

#[tokio::test]
async fn the_throttle_keeps_typed_usernames_keyed_never_as_typed() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn(dir.path(), 0).await;
    app.user("olga").await;
    // A password typed into the username field, and a real account's name.
    let typed = "Tr0ub4dor&3-in-the-wrong-field";
    let mut client = app.client();
    for name in [typed, "olga"] {
        assert_eq!(
            status(client.login(name, "wrong password").await),
            StatusCode::UNAUTHORIZED
        );
    }
    client.login("olga", PASSWORD).await.unwrap();
    let subjects = throttle_subjects(dir.path()).await;
    assert!(!subjects.is_empty());
    for subject in &subjects {
        let lower = subject.to_lowercase();
        assert!(
            !lower.contains("tr0ub4dor") && !lower.contains("olga"),
            "a typed name kept as typed: {subject}"
        );
    }
    // The same key after a restart (it is the deployment's, kept in its database): the counts
    // go on under the same subjects.
    app.stop().await;
    let app = TestApp::spawn(dir.path(), 0).await;
    let mut client = app.client();
    assert_eq!(
        status(client.login(typed, "wrong again").await),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        throttle_subjects(dir.path()).await,
        subjects,
        "same subjects, counted on"
    );
    app.stop().await;

    // A key file given: used in its place (another key, so other subjects); a short one is
    // refused at start-up.
    let secret = dir.path().join("secret");
    std::fs::write(&secret, [7u8; 32]).unwrap();
    let with_file = secret.clone();
    let app = TestApp::spawn_with(dir.path(), move |s| s.secret_file = Some(with_file)).await;
    let mut client = app.client();
    assert_eq!(
        status(client.login(typed, "wrong again").await),
        StatusCode::UNAUTHORIZED
    );
    let keyed_by_file = throttle_subjects(dir.path()).await;
    assert!(keyed_by_file.len() > subjects.len(), "{keyed_by_file:?}");
    app.stop().await;
    std::fs::write(&secret, [7u8; 31]).unwrap();
    let mut settings = Settings::for_data_dir(dir.path().to_path_buf());
    settings.database_url = Some(blindfold_server::testing::database_url(dir.path()).await);
    settings.secret_file = Some(secret);
    let refused = blindfold_server::startup::Application::build(settings)
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{refused:#}").contains("at least 32 random bytes"),
        "{refused:#}"
    );
}
