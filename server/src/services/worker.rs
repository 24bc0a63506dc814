//! Job workers: each claims queued jobs one at a time and evaluates them on a blocking thread
//! (FHE never runs on the async runtime), renewing the job's lease while it runs. Workers live
//! in a `JoinSet`; when told to stop they finish the job in hand and claim no more.

use std::sync::Arc;
use std::time::{Duration, Instant};

use blindfold_model::{EncryptedRow, ModelError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::services::ServiceError;
use crate::services::catalogue::ModelCatalogue;
use crate::services::jobs::{ClaimedJob, Evaluated, JobQueue, Outcome};
use crate::services::keystore::ServerKeyStore;
use crate::store::disk;
use crate::telemetry;

/// How long an idle worker sleeps before looking at the queue again, in case a wake-up was
/// missed (queued by another process, say).
const IDLE_POLL: Duration = Duration::from_secs(2);

/// What a worker needs to evaluate a job.
#[derive(Clone)]
pub struct Evaluator {
    pub models: Arc<ModelCatalogue>,
    pub keys: Arc<ServerKeyStore>,
    pub jobs: Arc<JobQueue>,
}

/// Starts `count` workers that run jobs until `stop` is cancelled.
pub fn spawn_workers(evaluator: Evaluator, count: usize, stop: CancellationToken) -> JoinSet<()> {
    let mut workers = JoinSet::new();
    for worker in 0..count {
        let (evaluator, stop) = (evaluator.clone(), stop.clone());
        workers.spawn(async move {
            while !stop.is_cancelled() {
                match evaluator.run_next().await {
                    Ok(true) => {}
                    Ok(false) => {
                        tokio::select! {
                            () = evaluator.jobs.wait_for_work(IDLE_POLL) => {}
                            () = stop.cancelled() => {}
                        }
                    }
                    Err(e) => {
                        tracing::error!(worker, error = format!("{e:#}"), "job worker");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                            () = stop.cancelled() => {}
                        }
                    }
                }
            }
            tracing::debug!(worker, "job worker stopped");
        });
    }
    workers
}

impl Evaluator {
    /// Runs one queued job if there is one; `Ok(false)` when the queue is empty.
    pub async fn run_next(&self) -> anyhow::Result<bool> {
        let Some(job) = self.jobs.claim(&self.keys.held_keys()).await? else {
            return Ok(false);
        };
        disk::crash_point("job-started");
        let started = Instant::now();
        let outcome = self.execute_leased(&job).await;
        match &outcome {
            Ok(evaluated) => tracing::info!(
                job = job.id,
                attempt = job.attempt,
                bootstraps = evaluated.bootstraps,
                seconds = started.elapsed().as_secs_f64(),
                "job done"
            ),
            Err(e) => tracing::warn!(job = job.id, error = format!("{e:#}"), "job failed"),
        }
        if !self.jobs.finish(&job, outcome).await? {
            tracing::info!(job = job.id, "job deleted or taken over while it ran: outcome dropped");
        }
        Ok(true)
    }

    /// Evaluates the job while renewing its lease, so it is not taken for abandoned.
    async fn execute_leased(&self, job: &ClaimedJob) -> Outcome {
        let renewing = CancellationToken::new();
        let heartbeat = {
            let (jobs, job, renewing) = (self.jobs.clone(), job.clone(), renewing.clone());
            tokio::spawn(async move {
                let period = jobs.limits().lease / 3;
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(period) => {}
                        () = renewing.cancelled() => return,
                    }
                    match jobs.renew(&job).await {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(error) => tracing::warn!(job = job.id, error = format!("{error:#}"), "renewing a lease"),
                    }
                }
            })
        };
        let outcome = self.execute(job).await;
        renewing.cancel();
        let _ = heartbeat.await;
        outcome
    }

    /// Evaluates the job's row under its key (the result is stored by [`JobQueue::finish`]).
    async fn execute(&self, job: &ClaimedJob) -> Outcome {
        let id = blindfold_api::ModelId::parse(&job.model_id)
            .ok_or_else(|| anyhow::anyhow!("a stored model id is not one"))?;
        let model = match self.models.get(&id).await {
            Ok(model) => model,
            // Unpublished (or deleted) by its owner since the job was queued.
            Err(ServiceError::NotFound(_)) => {
                anyhow::bail!("the model `{}` is no longer published", job.model_id)
            }
            Err(error) => return Err(anyhow::anyhow!("model: {error}")),
        };
        // Recompiled since the row was encrypted: its levels mean other values now, and the
        // client could not read the result with the spec it holds.
        anyhow::ensure!(
            model.spec_sha256 == job.spec_sha256,
            "the model `{}` was changed after the row was encrypted: encrypt it again",
            job.model_id
        );
        let row = self.jobs.input(&job.id).await?;
        let key = self
            .keys
            .load(job.user_id, model.spec.encryption.parameter_set(), &job.key_fingerprint)
            .await?;
        let time_limit = self.jobs.limits().time_limit(model.bootstraps);
        tokio::task::spawn_blocking(move || -> Outcome {
            let row = EncryptedRow::from_bytes(&row, model.plan.row_shape())?;
            let evaluating = Instant::now();
            let deadline = evaluating + time_limit;
            let (output, stats) =
                model
                    .plan
                    .evaluate_until(&key, &row, Some(deadline))
                    .map_err(|error| match error {
                        ModelError::Interrupted(_) => anyhow::anyhow!(
                            "the evaluation took longer than its limit of {:.1} s ({} bootstraps)",
                            time_limit.as_secs_f64(),
                            model.bootstraps
                        ),
                        error => error.into(),
                    })?;
            metrics::histogram!(telemetry::EVALUATION_SECONDS).record(evaluating.elapsed().as_secs_f64());
            metrics::counter!(telemetry::BOOTSTRAPS).increment(stats.bootstraps as u64);
            Ok(Evaluated {
                bootstraps: stats.bootstraps as u64,
                result: output.to_bytes(),
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("evaluation task ended abnormally: {e}"))?
    }
}
