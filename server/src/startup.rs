//! Building the application from settings: database, services, router, listener.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum_extra::extract::CookieJar;
use blindfold_app::api::{RequestSession, SessionInfo};
use blindfold_app::{App, shell};
use leptos::config::LeptosOptions;
use leptos_axum::{LeptosRoutes, file_and_error_handler, generate_route_list};
use sqlx::SqlitePool;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::accounts::session;
use crate::accounts::throttle::LoginThrottle;
use crate::catalogue::ModelCatalogue;
use crate::jobs::{JobQueue, spawn_workers};
use crate::keystore::ServerKeyStore;
use crate::routes::{accounts, keys, models, predictions};
use crate::settings::Settings;

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: SqlitePool,
    pub settings: Arc<Settings>,
    pub throttle: Arc<LoginThrottle>,
    pub models: Arc<ModelCatalogue>,
    pub keys: Arc<ServerKeyStore>,
    pub jobs: Arc<JobQueue>,
    pub leptos: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

impl AppState {
    /// Opens the database and data directory, installs the default model and recovers jobs.
    pub async fn open(settings: Settings) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(&settings.data_dir)
            .await
            .with_context(|| format!("creating {}", settings.data_dir.display()))?;
        let pool = crate::db::connect(&settings.database_url()).await?;
        let models = Arc::new(ModelCatalogue::new(pool.clone()));
        models.install_default().await?;
        let keys = Arc::new(ServerKeyStore::new(
            pool.clone(),
            settings.data_dir.join("keys"),
            settings.key_cache_mib * 1024 * 1024,
        ));
        let jobs = Arc::new(JobQueue::new(pool.clone(), settings.data_dir.join("jobs")));
        let requeued = jobs.recover().await?;
        if requeued > 0 {
            tracing::info!(requeued, "requeued jobs interrupted by a restart");
        }
        let leptos = LeptosOptions::builder()
            .output_name("blindfold")
            .site_root(settings.site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(settings.addr)
            .build();
        Ok(Self {
            pool,
            leptos,
            settings: Arc::new(settings),
            throttle: Arc::default(),
            models,
            keys,
            jobs,
        })
    }
}

pub fn router(state: AppState) -> Router {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/register", post(accounts::register))
        .route("/api/login", post(accounts::login))
        .route("/api/logout", post(accounts::logout))
        .route("/api/session", get(accounts::current))
        .route("/api/models", get(models::list))
        .route("/api/models/{id}/spec", get(models::spec))
        .route(
            "/api/models/{id}/key",
            get(keys::get).put(keys::put).delete(keys::delete),
        )
        .route("/api/models/{id}/predictions", post(models::predict))
        .route("/api/predictions", get(predictions::list))
        .route("/api/predictions/{id}", get(predictions::get))
        .route("/api/predictions/{id}/result", get(predictions::result))
        .route(
            "/api/{*rest}",
            any(|| async { crate::error::ApiError::NotFound("route") }),
        )
        .leptos_routes(&state, generate_route_list(App), {
            let options = state.leptos.clone();
            move || shell(options.clone())
        })
        .fallback(file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn_with_state(state.clone(), resolve_page_session));
    let router = SECURITY_HEADERS.iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ))
    });
    router.layer(TraceLayer::new_for_http()).with_state(state)
}

/// Resolves the session of a page request for the server-rendered app (API requests resolve
/// their own, static files need none).
async fn resolve_page_session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let is_static = ["/api/", "/pkg/", "/worker/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || path.rsplit('/').next().is_some_and(|name| name.contains('.'));
    let is_page = !is_static;
    if is_page {
        let jar = CookieJar::from_headers(request.headers());
        let session = match session::lookup(&state, &jar).await {
            Ok(user) => user.map(|user| SessionInfo {
                username: user.username,
                csrf_token: user.csrf_token,
            }),
            Err(error) => {
                tracing::warn!(%error, "could not look up the session of a page request");
                None
            }
        };
        request.extensions_mut().insert(RequestSession(session));
    }
    next.run(request).await
}

/// Headers on every response: a strict Content-Security-Policy (scripts only from this origin,
/// plus WebAssembly compilation), cross-origin isolation (COOP + COEP, so wasm threads can use
/// SharedArrayBuffer) with CORP, and no MIME sniffing or referrers.
const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
         form-action 'self'",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-embedder-policy", "require-corp"),
    ("cross-origin-resource-policy", "same-origin"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

/// A running server, bound to its port.
pub struct Application {
    port: u16,
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("binding {}", settings.addr))?;
        let port = listener.local_addr()?.port();
        for built in ["pkg/blindfold.js", "worker/blindfold_worker.js", "crypto-worker.js"] {
            if !settings.site_root.join(built).is_file() {
                tracing::warn!(
                    site_root = %settings.site_root.display(),
                    missing = built,
                    "the web app is not built here: the API works, the pages will not (run scripts/build.sh)"
                );
                break;
            }
        }
        let state = AppState::open(settings).await?;
        Ok(Self { port, listener, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, with the configured number of job workers.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        spawn_workers(self.state.clone(), self.state.settings.workers);
        tracing::info!(port = self.port, "listening");
        axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    }
}
