//! The application's state: the database pool, the settings and the services, built once at
//! start-up and shared by every request handler and job worker.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::site::{self, SiteAssets};
use crate::store::db::{Backend, Db};

use crate::services::accounts::Accounts;
use crate::services::accounts::throttle::NameKey;
use crate::services::catalogue::ModelCatalogue;
use crate::services::jobs::{JobLimits, JobQueue};
use crate::services::keystore::{KeyQuota, ServerKeyStore};
use crate::services::owned_models::{OwnedModels, OwnerLimits};
use crate::services::uploads::UploadSlots;
use crate::services::worker::Evaluator;
use crate::settings::Settings;
use crate::store::disk::Placement;

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub accounts: Arc<Accounts>,
    pub models: Arc<ModelCatalogue>,
    /// Owners' models: uploads, compilations, publication.
    pub owned_models: Arc<OwnedModels>,
    pub keys: Arc<ServerKeyStore>,
    pub jobs: Arc<JobQueue>,
    /// Key uploads being read and validated (each decompresses to ~120 MB).
    pub key_uploads: Arc<UploadSlots>,
    /// Encrypted rows being read and checked.
    pub row_uploads: Arc<UploadSlots>,
    /// Owners' model uploads being read and checked.
    pub model_uploads: Arc<UploadSlots>,
    pub leptos: LeptosOptions,
    /// The built site's manifest: which static files are named after their content.
    pub assets: Arc<SiteAssets>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

impl AppState {
    /// Opens the database (and with SQLite the data directory), installs the default model,
    /// recovers jobs and fails compilations a restart interrupted.
    pub async fn open(settings: Settings) -> anyhow::Result<Self> {
        let url = settings.database_url();
        let backend = Backend::of_url(&url)?;
        // Bytes live beside the database: in SQLite's data directory, or in PostgreSQL itself.
        let (key_placement, job_placement) = match backend {
            Backend::Sqlite => {
                let data_dir = settings.data_dir.clone();
                tokio::task::spawn_blocking(move || crate::store::disk::private_dir(&data_dir))
                    .await?
                    .with_context(|| format!("creating {}", settings.data_dir.display()))?;
                (
                    Placement::Files(settings.data_dir.join("keys")),
                    Placement::Files(settings.data_dir.join("jobs")),
                )
            }
            Backend::Postgres => (Placement::Database, Placement::Database),
        };
        let db = crate::store::db::connect(&url, settings.database_connections).await?;
        let models = Arc::new(ModelCatalogue::new(db.clone()));
        models.install_default().await?;
        let key_quota = KeyQuota {
            max_keys: settings.max_keys_per_user,
            max_bytes: settings.max_key_storage_mib << 20,
            max_total_bytes: settings.max_total_key_storage_mib << 20,
        };
        let keys = Arc::new(ServerKeyStore::new(
            db.clone(),
            key_placement,
            key_quota,
            settings.key_cache_mib * 1024 * 1024,
            settings.max_key_uploads,
            settings.key_retention(),
        ));
        let removed = keys.sweep_orphans().await?;
        if removed > 0 {
            tracing::info!(removed, "removed key files no stored key refers to");
        }
        let job_limits = JobLimits {
            max_pending_per_user: settings.max_pending_per_user,
            max_waits_per_user: settings.max_waits_per_user,
            attempts: settings.job_attempts.max(1),
            lease: settings.job_lease(),
            retention: settings.result_retention(),
            time_base: Duration::from_secs(settings.job_time_base_s),
            time_per_bootstrap: Duration::from_millis(settings.job_time_per_bootstrap_ms),
        };
        let jobs = Arc::new(JobQueue::new(db.clone(), job_placement, job_limits));
        jobs.recover().await?;
        let owned_models = Arc::new(OwnedModels::new(
            db.clone(),
            models.clone(),
            jobs.clone(),
            OwnerLimits {
                max_csv_rows: settings.max_csv_rows,
                max_models_per_owner: settings.max_models_per_owner,
                max_compilations: settings.max_compilations,
                max_compile_split_rows: settings.max_compile_split_rows,
                max_compile_time: Duration::from_secs(settings.max_compile_s),
                max_bootstraps_per_prediction: settings.max_bootstraps_per_prediction,
            },
        ));
        owned_models.recover().await?;
        let names = NameKey::load(&db, settings.secret_file.as_deref()).await?;
        let accounts = Arc::new(Accounts::new(db.clone(), &settings, names, jobs.clone(), keys.clone()));
        let key_uploads = Arc::new(UploadSlots::new(
            "key uploads",
            settings.max_key_uploads,
            settings.max_key_uploads_per_user,
            5,
        ));
        let row_uploads = Arc::new(UploadSlots::new(
            "row uploads",
            settings.max_row_uploads,
            settings.max_row_uploads_per_user,
            1,
        ));
        let model_uploads = Arc::new(UploadSlots::new(
            "model uploads",
            settings.max_model_uploads,
            settings.max_model_uploads_per_owner,
            5,
        ));
        let assets = SiteAssets::load(&settings.site_root);
        let mut leptos = LeptosOptions::builder()
            .output_name(site::OUTPUT_NAME)
            .site_root(settings.site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(settings.addr)
            .build();
        // With a manifest, pages name the page bundle and the stylesheet by their hashed names,
        // which leptos reads from it.
        if let Some(manifest) = assets.manifest() {
            leptos.hash_files = true;
            leptos.hash_file = manifest.to_string_lossy().into();
        }
        Ok(Self {
            db,
            leptos,
            assets: Arc::new(assets),
            settings: Arc::new(settings),
            accounts,
            models,
            owned_models,
            keys,
            jobs,
            key_uploads,
            row_uploads,
            model_uploads,
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
