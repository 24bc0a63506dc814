//! The application's state: the database pool, the settings and the services, built once at
//! start-up and shared by every request handler and job worker.

use std::sync::Arc;

use anyhow::Context;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::SqlitePool;

use crate::services::accounts::throttle::LoginThrottle;
use crate::services::catalogue::ModelCatalogue;
use crate::services::jobs::JobQueue;
use crate::services::keystore::ServerKeyStore;
use crate::services::worker::Evaluator;
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

    /// What job workers need.
    pub fn evaluator(&self) -> Evaluator {
        Evaluator {
            models: self.models.clone(),
            keys: self.keys.clone(),
            jobs: self.jobs.clone(),
        }
    }
}
