//! Property tests over HTTP: random and mutated bodies, query strings and path ids at every
//! endpoint a client can send to, against one real server per property. Every request must be
//! answered (no dropped connection: a panic in a handler shows as one) with a success or a
//! documented client error, never a 500; afterwards the server is healthy and a legitimate
//! prediction still decrypts to the clear quantized model's answer.
//!
//! proptest drives the cases (with shrinking); each case runs on a Tokio runtime held outside
//! the property. Run alone with `cargo test --release -p blindfold-server --test it fuzz`.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use blindfold_api::client::{ApiClient, Session};
use blindfold_api::{CSRF_HEADER, SESSION_COOKIE, paths};
use blindfold_model::encrypt_row;
use blindfold_server::Settings;
use blindfold_server::testing::{PASSWORD, TestApp};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use tokio::runtime::Runtime;

use crate::{COMPILED, KEYS, MODEL, fetch_spec, predict, rows_of_each_class};

/// The client errors the API documents. Anything else but a success fails a property.
const DOCUMENTED: [u16; 10] = [400, 401, 403, 404, 405, 409, 413, 415, 422, 429];

// ---------------------------------------------------------------------------------------------
// Harness

/// Runs `test` on `cases` values of `strategy`; on failure, panics with the shrunk input.
fn check<S>(name: &str, cases: u32, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    };
    let start = Instant::now();
    if let Err(error) = TestRunner::new(config).run(&strategy, test) {
        panic!("{name}: {error}");
    }
    eprintln!("fuzz {name}: {cases} cases in {:.2?}", start.elapsed());
}

/// Who a request is sent as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Auth {
    Anonymous,
    /// The session cookie and its CSRF token.
    Session,
    /// The session cookie without a CSRF token.
    NoCsrf,
    /// The session cookie with a forged CSRF token.
    ForgedCsrf,
    /// A cookie that is no session.
    BogusCookie,
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        4 => Just(Auth::Session),
        1 => Just(Auth::Anonymous),
        1 => Just(Auth::NoCsrf),
        1 => Just(Auth::ForgedCsrf),
        1 => Just(Auth::BogusCookie),
    ]
}

/// One real server, a runtime to drive it and an HTTP client without a cookie jar.
struct Server {
    rt: Runtime,
    app: Option<TestApp>,
    http: reqwest::Client,
    /// How often each status was answered since the last [`Server::statuses`].
    seen: Mutex<BTreeMap<u16, usize>>,
    _dir: TempDir,
}

impl Server {
    fn spawn(configure: impl FnOnce(&mut Settings)) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = TempDir::new().unwrap();
        let app = rt.block_on(TestApp::spawn_with(dir.path(), |s| {
            // Many registrations and failed logins from one address are the point here.
            s.registrations_per_hour = 1_000_000;
            s.login_attempts_per_address = 1_000_000;
            s.login_attempts_per_user = 1_000_000;
            s.logins_per_account_per_hour = 1_000_000;
            configure(s);
        }));
        Self {
            rt,
            app: Some(app),
            // A fresh connection per request: the server closes a connection after refusing a
            // body it did not read (413), and a request sent on such a pooled connection would
            // fail on the client's side, not the server's.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            seen: Mutex::default(),
            _dir: dir,
        }
    }

    fn app(&self) -> &TestApp {
        self.app.as_ref().unwrap()
    }

    /// A newly registered user's client.
    fn user(&self, name: &str) -> ApiClient {
        self.rt.block_on(self.app().user(name))
    }

    /// Sends a request; fails the case unless it is answered with a success or a documented
    /// client error. Returns the status and the body.
    fn send(
        &self,
        method: Method,
        path_and_query: &str,
        session: Option<&Session>,
        auth: Auth,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(StatusCode, String), TestCaseError> {
        let url = format!("{}{path_and_query}", self.app().base);
        let mut request = self.http.request(method.clone(), &url);
        match (auth, session) {
            (Auth::Anonymous, _) | (_, None) => {}
            (Auth::BogusCookie, _) => request = request.header("cookie", format!("{SESSION_COOKIE}=AAAA%00; x=y")),
            (auth, Some(session)) => {
                request = request.header("cookie", format!("{SESSION_COOKIE}={}", session.token));
                match auth {
                    Auth::Session => request = request.header(CSRF_HEADER, &session.csrf_token),
                    Auth::ForgedCsrf => request = request.header(CSRF_HEADER, "forged"),
                    _ => {}
                }
            }
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if !body.is_empty() {
            request = request.body(body);
        }
        let (status, text) = self
            .rt
            .block_on(async {
                let response = request.send().await?;
                let status = response.status();
                Ok::<_, reqwest::Error>((status, response.text().await.unwrap_or_default()))
            })
            .map_err(|e| TestCaseError::fail(format!("{method} {url}: no answer: {e}")))?;
        *self.seen.lock().unwrap().entry(status.as_u16()).or_default() += 1;
        prop_assert!(
            status.is_success() || DOCUMENTED.contains(&status.as_u16()),
            "{method} {url} answered {status}: {text}"
        );
        Ok((status, text))
    }

    /// The statuses answered since the last call, printed under `name`.
    fn statuses(&self, name: &str) -> BTreeMap<u16, usize> {
        let seen = std::mem::take(&mut *self.seen.lock().unwrap());
        eprintln!("fuzz {name}: statuses {seen:?}");
        seen
    }

    fn healthy(&self) {
        let status = self
            .rt
            .block_on(async { self.http.get(self.app().url("/healthz")).send().await })
            .expect("the server still answers")
            .status();
        assert_eq!(status, StatusCode::OK);
    }

    fn stop(mut self) {
        let app = self.app.take().unwrap();
        self.rt.block_on(app.stop());
    }
}

// ---------------------------------------------------------------------------------------------
// Byte mutations (as in the model crate's properties)

#[derive(Debug, Clone)]
struct Pos {
    head: bool,
    at: Index,
}

impl Pos {
    fn of(&self, len: usize) -> usize {
        let span = if self.head { len.min(512) } else { len };
        self.at.index(span.max(1)).min(len.saturating_sub(1))
    }
}

fn pos() -> impl Strategy<Value = Pos> {
    (any::<bool>(), any::<Index>()).prop_map(|(head, at)| Pos { head, at })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: Pos,
        bit: u8,
    },
    Truncate {
        keep: Index,
    },
    Insert {
        at: Pos,
        bytes: Vec<u8>,
    },
    Remove {
        at: Pos,
        len: usize,
    },
    /// Rewrite a little-endian u64 among the first 64 KiB that looks like a length.
    Length {
        field: Index,
        value: u64,
    },
    Extend {
        bytes: Vec<u8>,
    },
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let length = prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(1 << 40), any::<u64>()];
    let mutation = prop_oneof![
        3 => (pos(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        1 => any::<Index>().prop_map(|keep| Mutation::Truncate { keep }),
        1 => (pos(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (pos(), 1usize..64).prop_map(|(at, len)| Mutation::Remove { at, len }),
        2 => (any::<Index>(), length).prop_map(|(field, value)| Mutation::Length { field, value }),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Mutation::Extend { bytes }),
    ];
    prop::collection::vec(mutation, 1..4)
}

fn mutate(original: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for mutation in mutations {
        let len = bytes.len();
        match mutation {
            Mutation::Flip { at, bit } if len > 0 => bytes[at.of(len)] ^= 1 << bit,
            Mutation::Truncate { keep } => bytes.truncate(keep.index(len + 1)),
            Mutation::Insert { at, bytes: new } => {
                let i = if len == 0 { 0 } else { at.of(len) };
                bytes.splice(i..i, new.iter().copied());
            }
            Mutation::Remove { at, len: n } if len > 0 => {
                let i = at.of(len);
                bytes.drain(i..(i + n).min(len));
            }
            Mutation::Length { field, value } => {
                let end = len.min(64 << 10).saturating_sub(7);
                let fields: Vec<usize> = (0..end)
                    .filter(|&i| {
                        let v = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
                        v > 0 && v <= len as u64
                    })
                    .collect();
                if !fields.is_empty() {
                    let i = fields[field.index(fields.len())];
                    bytes[i..i + 8].copy_from_slice(&value.to_le_bytes());
                }
            }
            Mutation::Extend { bytes: new } => bytes.extend_from_slice(new),
            _ => {}
        }
    }
    bytes
}

/// Random bytes, or a valid object's first bytes (its header) followed by random ones.
fn random_bytes_after(valid: Vec<u8>, max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..max),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..max)).prop_map(move |(cut, tail)| {
            let mut bytes = valid[..cut.index(valid.len().min(1024))].to_vec();
            bytes.extend(tail);
            bytes
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// JSON bodies

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<f64>().prop_map(Value::from),
        ".{0,24}".prop_map(Value::String),
        Just(Value::from(PASSWORD)),
        Just(Value::from("mallory")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("username".to_owned()),
                    Just("password".to_owned()),
                    Just("password_confirmation".to_owned()),
                    ".{0,8}"
                ],
                inner,
                0..4
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A string field: ordinary, unicode, control characters, or huge (around the 16 KiB cap).
fn field_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9_.@+-]{0,20}",
        2 => ".{0,40}",
        1 => Just(PASSWORD.to_owned()),
        1 => Just("mallory".to_owned()),
        1 => "[\\x00-\\x1f]{1,8}",
        1 => (1usize..20_000, any::<char>()).prop_map(|(n, c)| c.to_string().repeat(n)),
    ]
}

/// A registration or login form whose fields may be of any JSON type, with an extra field.
fn form() -> impl Strategy<Value = Value> {
    let field = || prop_oneof![3 => field_string().prop_map(Value::String), 1 => json_value()];
    (field(), field(), field(), prop::option::of(json_value())).prop_map(|(username, password, confirmation, extra)| {
        let mut form = serde_json::json!({
            "username": username,
            "password": password,
            "password_confirmation": confirmation,
        });
        if let Some(extra) = extra {
            form["extra"] = extra;
        }
        form
    })
}

/// Bodies for the account endpoints.
fn account_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => form().prop_map(|f| f.to_string().into_bytes()),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..2048),
        // Invalid UTF-8 inside a JSON string.
        1 => (form(), prop::sample::select(vec![vec![0xffu8], vec![0xc3], vec![0xed, 0xa0, 0x80], vec![0xf4, 0x90, 0x80, 0x80]]))
            .prop_map(|(form, bad)| {
                let text = form.to_string();
                let at = text.find(':').map_or(0, |i| i + 2);
                let mut bytes = text.into_bytes();
                bytes.splice(at..at, bad);
                bytes
            }),
        // Cut short or with trailing bytes.
        1 => (form(), mutations()).prop_map(|(form, m)| mutate(form.to_string().as_bytes(), &m)),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(Some("application/json".to_owned())),
        1 => Just(None),
        1 => Just(Some("application/json; charset=utf-8".to_owned())),
        1 => Just(Some("text/plain".to_owned())),
        1 => Just(Some("application/x-www-form-urlencoded".to_owned())),
        1 => "[ -~]{0,30}".prop_map(Some),
    ]
}

#[test]
fn fuzz_account_bodies() {
    let server = Server::spawn(|s| s.workers = 0);
    let mallory = server.user("mallory");
    let session = mallory.session().cloned();
    let endpoint = prop_oneof![
        4 => Just(paths::REGISTER),
        4 => Just(paths::LOGIN),
        1 => Just(paths::LOGOUT),
        1 => Just(paths::SESSION)
    ];
    let method = prop_oneof![8 => Just(Method::POST), 1 => Just(Method::GET), 1 => Just(Method::PUT)];
    let case = (endpoint, method, account_body(), content_type(), auth());
    check(
        "account bodies",
        160,
        case,
        |(endpoint, method, body, content_type, auth)| {
            // Logging out for real would end the session the other cases use.
            let auth = if endpoint == paths::LOGOUT && auth == Auth::Session {
                Auth::NoCsrf
            } else {
                auth
            };
            server.send(method, endpoint, session.as_ref(), auth, content_type.as_deref(), body)?;
            Ok(())
        },
    );
    server.statuses("account bodies");
    server.healthy();
    // The account still works.
    let mut client = server.app().client();
    server.rt.block_on(client.login("mallory", PASSWORD)).unwrap();
    assert_eq!(server.rt.block_on(client.whoami()).unwrap(), "mallory");
    server.stop();
}

// ---------------------------------------------------------------------------------------------
// Keys, rows, queries and paths

/// A path segment: random text percent-encoded, or a raw hostile one.
fn segment() -> impl Strategy<Value = String> {
    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }
    prop_oneof![
        3 => ".{0,40}".prop_map(|s| encode(&s)),
        1 => prop::sample::select(vec![
            "..", ".", "%2e%2e", "%2E%2E%2F%2E%2E", "..%2F..%2Fetc%2Fpasswd", "%00", "%ff", "%C3%28", "%2F",
            "%5C", "breast-cancer%00", "BREAST-CANCER", "breast-cancer.", " ", "%20", "-1", "0",
            "00000000-0000-0000-0000-000000000000", "99999999999999999999", "%25", "%", "%zz",
        ])
        .prop_map(str::to_owned),
        1 => (1usize..4000).prop_map(|n| "a".repeat(n)),
        1 => Just(MODEL.to_owned()),
    ]
}

/// A query string for `GET /api/predictions/{id}`: garbage, out of range, or ordinary.
fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "?",
            "?wait",
            "?wait=",
            "?wait=NaN",
            "?wait=nan",
            "?wait=inf",
            "?wait=-inf",
            "?wait=-1",
            "?wait=31",
            "?wait=30.0000001",
            "?wait=1e999",
            "?wait=1e-999",
            "?wait=0x10",
            "?wait=1_0",
            "?wait=0",
            "?wait=0.0",
            "?wait=%00",
            "?wait=%zz",
            "?wait=1&wait=2",
            "?wait[]=1",
            "?wait=%FF",
            "?wait=18446744073709551616",
            "?other=1",
            "?wait=+0",
            "?wait=-0",
            "?wait=%20%200",
            "?=&&=",
        ])
        .prop_map(str::to_owned),
        ".{0,30}".prop_map(|s| format!("?wait={}", s.bytes().map(|b| format!("%{b:02X}")).collect::<String>())),
        "[ -~&&[^#]]{0,30}".prop_map(|s| format!("?{}", s.replace(' ', "%20"))),
    ]
}

/// A request to a route that takes a model or job id.
#[derive(Debug, Clone)]
enum Probe {
    /// `GET /api/predictions/{id}` with a query string (with the session's own finished job,
    /// or any id).
    Job {
        own: bool,
        id: String,
        query: String,
    },
    Result {
        own: bool,
        id: String,
    },
    /// A model route with any id and method, with a small body.
    Model {
        method: Method,
        id: String,
        route: &'static str,
        body: Vec<u8>,
    },
    /// Any method on any path under the API.
    Any {
        method: Method,
        path: Vec<String>,
        body: Vec<u8>,
    },
}

fn probe() -> impl Strategy<Value = Probe> {
    // No DELETE on a model route: with the model's own id it would remove the session's key.
    let method = prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::PATCH)
    ];
    let any_method = prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::PATCH),
        Just(Method::DELETE),
        Just(Method::OPTIONS),
        Just(Method::HEAD),
    ];
    let body = prop::collection::vec(any::<u8>(), 0..256);
    prop_oneof![
        3 => (any::<bool>(), segment(), query()).prop_map(|(own, id, query)| Probe::Job { own, id, query }),
        1 => (any::<bool>(), segment()).prop_map(|(own, id)| Probe::Result { own, id }),
        3 => (method, segment(), prop::sample::select(vec!["key", "predictions", "spec"]), body.clone())
            .prop_map(|(method, id, route, body)| Probe::Model { method, id, route, body }),
        1 => (any_method, prop::collection::vec(segment(), 0..4), body)
            .prop_map(|(method, path, body)| Probe::Any { method, path, body }),
    ]
}

#[test]
fn fuzz_keys_rows_queries_and_paths() {
    // Tampered rows that still decode are queued and evaluated (one worker), none refused for
    // the number pending, so that every row is decoded.
    let server = Server::spawn(|s| {
        s.workers = 1;
        s.max_pending_per_user = 1000;
    });
    let mallory = server.user("mallory");
    let olivia = server.user("olivia");
    let spec = server.rt.block_on(fetch_spec(&olivia, MODEL));
    server.rt.block_on(mallory.upload_key(KEYS.server.clone())).unwrap();
    server.rt.block_on(olivia.upload_key(KEYS.server.clone())).unwrap();
    let (row, _) = rows_of_each_class().remove(0);
    let (_, finished) = server.rt.block_on(predict(&olivia, &spec, &row));
    let row_bytes = encrypt_row(&spec, &KEYS.client, &row).unwrap().to_bytes();
    let session = mallory.session().cloned();
    let key_path = paths::KEY.to_owned();
    // Bound to the key and spec the server holds, so that tampered rows reach the decoder.
    let binding = server.rt.block_on(crate::binding(&mallory, MODEL));
    let rows_path = paths::model_predictions_bound(MODEL, &binding);

    // Random keys are never accepted.
    check(
        "PUT key, random bytes",
        48,
        (random_bytes_after(KEYS.server.clone(), 4096), auth()),
        |(bytes, auth)| {
            let (status, text) = server.send(Method::PUT, &key_path, session.as_ref(), auth, None, bytes)?;
            prop_assert!(!status.is_success(), "random bytes accepted as a key: {text}");
            Ok(())
        },
    );
    server.statuses("PUT key, random bytes");
    // Mutated real keys: each upload is ~30 MB read, decoded and checked.
    check("PUT key, mutated real key", 8, mutations(), |mutations| {
        let bytes = mutate(&KEYS.server, &mutations);
        server.send(Method::PUT, &key_path, session.as_ref(), Auth::Session, None, bytes)?;
        Ok(())
    });
    server.statuses("PUT key, mutated real key");
    server.rt.block_on(mallory.upload_key(KEYS.server.clone())).unwrap();

    // Rows.
    let rows = prop_oneof![
        1 => random_bytes_after(row_bytes.clone(), 20_000).prop_map(|b| (true, b)),
        2 => mutations().prop_map(|m| (false, mutate(&row_bytes, &m))),
    ];
    check(
        "POST predictions, rows",
        128,
        (rows, prop_oneof![6 => Just(Auth::Session), 1 => auth()]),
        |((random, bytes), auth)| {
            let (status, text) = server.send(Method::POST, &rows_path, session.as_ref(), auth, None, bytes)?;
            prop_assert!(
                !(random && status.is_success()),
                "random bytes accepted as a row: {text}"
            );
            Ok(())
        },
    );

    server.statuses("POST predictions, rows");

    // Query strings and path ids.
    let olivia_session = olivia.session().cloned();
    check("ids and query strings", 256, (probe(), auth()), |(probe, auth)| {
        match probe {
            Probe::Job { own, id, query } => {
                let (session, id) = if own {
                    (olivia_session.as_ref(), finished.id.clone())
                } else {
                    (session.as_ref(), id)
                };
                server.send(
                    Method::GET,
                    &format!("/api/predictions/{id}{query}"),
                    session,
                    auth,
                    None,
                    vec![],
                )?;
            }
            Probe::Result { own, id } => {
                let (session, id) = if own {
                    (olivia_session.as_ref(), finished.id.clone())
                } else {
                    (session.as_ref(), id)
                };
                server.send(
                    Method::GET,
                    &format!("/api/predictions/{id}/result"),
                    session,
                    auth,
                    None,
                    vec![],
                )?;
            }
            Probe::Model {
                method,
                id,
                route,
                body,
            } => {
                let path = format!("/api/models/{id}/{route}");
                server.send(method, &path, session.as_ref(), auth, None, body)?;
            }
            Probe::Any { method, path, body } => {
                let path = format!("/api/{}", path.join("/"));
                server.send(method, &path, session.as_ref(), auth, None, body)?;
            }
        }
        Ok(())
    });

    server.statuses("ids and query strings");

    // Still healthy, and an honest prediction is still exact.
    server.healthy();
    for (row, _) in rows_of_each_class() {
        let (prediction, _) = server.rt.block_on(predict(&olivia, &spec, &row));
        let expected = COMPILED.quantized.raw_outputs(&spec.quantize_row(&row).unwrap());
        assert_eq!(
            prediction.raw, expected,
            "decrypts to the clear quantized model's output"
        );
    }
    server.stop();
}
