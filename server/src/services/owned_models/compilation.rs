//! Owners' models compile in the background: at most `max_compilations` at once per process,
//! each on a blocking thread, writing its progress and a heartbeat; a compilation stops at the
//! compiler's next step when its model is deleted, it runs past `max_compile_time`, or the
//! process shuts down. A process that died leaves `compiling` rows, failed by [`OwnedModels::recover`].

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blindfold_api::CompileProgress;
use blindfold_model::{CompileOptions, CompileStep, ModelError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::upload::Checked;
use super::{CompileTicket, OwnedModels};
use crate::services::compile::{Reported, compile_and_report};
use crate::store::models::RowKey;

/// How often a compiling process writes that it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A compilation whose process wrote no heartbeat for this long is failed (PostgreSQL).
pub const ORPHANED_AFTER: Duration = Duration::from_secs(60);

/// What a waiting compilation shows.
pub const WAITING: &str = "waiting for another compilation to finish";
/// Why a compilation stopped because its model was deleted ended (recorded nowhere: the row is
/// gone).
const DELETED: &str = "the model was deleted while it compiled";
/// Why a compilation cut off by a restart failed.
pub const INTERRUPTED: &str = "interrupted by a server restart; upload it again";
/// Why a compilation cut off by a shutdown failed.
const SHUT_DOWN: &str = "interrupted by a server shutdown; upload it again";

/// A compilation to run.
pub(super) struct Compilation {
    pub id: String,
    /// The row's `created_at`: with the id, which row this compilation is of (its model may
    /// be deleted and another uploaded under the same id while it runs).
    pub created_at: i64,
    pub owner: i64,
    pub checked: Checked,
    pub options: CompileOptions,
    pub ticket: CompileTicket,
}

/// A compilation's entry in [`OwnedModels::running`], removed however the compilation ends.
struct Running<'a> {
    running: &'a Mutex<HashMap<(String, i64), CancellationToken>>,
    row: (String, i64),
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.running.lock().expect("compilations lock").remove(&self.row);
    }
}

impl OwnedModels {
    /// Runs a compilation to its end, or until the process shuts down.
    pub(super) async fn compile(self: Arc<Self>, compilation: Compilation) {
        let (id, owner) = (compilation.id.clone(), compilation.owner);
        let row = (id.as_str(), compilation.created_at);
        let started = std::time::Instant::now();
        let outcome = self.run(compilation).await;
        let recorded = match outcome {
            None => self.store.fail_compiling(row, SHUT_DOWN).await,
            Some(Ok(compiled)) => {
                tracing::info!(
                    owner,
                    model = id,
                    seconds = started.elapsed().as_secs_f64(),
                    bootstraps = compiled.report.cost.bootstraps,
                    "model compiled"
                );
                let (spec_json, plan_json) = (compiled.compiled.spec().to_json(), compiled.compiled.plan_json());
                self.store
                    .store_compiled(row, owner, &spec_json, &plan_json, &compiled.report)
                    .await
            }
            Some(Err(error)) => {
                tracing::info!(owner, model = id, error, "model compilation failed");
                self.store.fail_compiling(row, &error).await
            }
        };
        if let Err(error) = recorded {
            tracing::error!(
                model = id,
                error = format!("{error:#}"),
                "recording a compilation's end"
            );
        }
    }

    /// Waits for a compilation slot, then compiles and evaluates on a blocking thread, writing
    /// the progress and a heartbeat meanwhile. None when the process shuts down first. The
    /// compiler stops at its next step when the process shuts down, the model is deleted, or
    /// the compilation runs past `max_compile_time`.
    async fn run(&self, compilation: Compilation) -> Option<Result<Reported, String>> {
        let Compilation {
            id,
            created_at,
            owner: _,
            checked,
            options,
            ticket,
        } = compilation;
        let _ticket = ticket;
        let cancel = self.stop.child_token();
        self.running
            .lock()
            .expect("compilations lock")
            .insert((id.clone(), created_at), cancel.clone());
        let _running = Running {
            running: &self.running,
            row: (id.clone(), created_at),
        };
        let row = (id.as_str(), created_at);
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        let permit = match self.compilations.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                self.progress(row, WAITING, 0, 0, &cancel).await;
                loop {
                    tokio::select! {
                        permit = self.compilations.clone().acquire_owned() => {
                            break permit.expect("the compilation semaphore is never closed");
                        }
                        _ = heartbeat.tick() => self.beat(row, &cancel).await,
                        () = cancel.cancelled() => return if self.stop.is_cancelled() {
                            None
                        } else {
                            Some(Err(DELETED.to_owned()))
                        },
                    }
                }
            }
        };
        let (steps, mut seen) = watch::channel::<Option<CompileStep>>(None);
        // The slot goes with the thread: a compiler still running after a shutdown still counts
        // until its next step, where it stops.
        let stopping = cancel.clone();
        let mut compiling = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            compile_checked(checked, &options, &mut |step| {
                steps.send_replace(Some(step));
                if stopping.is_cancelled() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
        });
        let limit = self.limits.max_compile_time;
        let overtime = tokio::time::sleep(limit);
        tokio::pin!(overtime);
        let mut timed_out = false;
        let mut steps_open = true;
        loop {
            tokio::select! {
                joined = &mut compiling => {
                    return Some(match joined {
                        Ok(Ok(compiled)) => Ok(compiled),
                        Ok(Err(ModelError::Interrupted(_))) if timed_out => Err(format!(
                            "the compilation took longer than {} s, the most this server gives one: \
                             send fewer rows or a smaller model",
                            limit.as_secs()
                        )),
                        Ok(Err(ModelError::Interrupted(_))) => Err(DELETED.to_owned()),
                        Ok(Err(error)) => Err(error.to_string()),
                        Err(error) => {
                            tracing::error!(model = id, %error, "the compiler thread ended abnormally");
                            Err("the compiler failed unexpectedly".to_owned())
                        }
                    });
                }
                changed = seen.changed(), if steps_open => {
                    if changed.is_err() {
                        steps_open = false;
                        continue;
                    }
                    let step = seen.borrow_and_update().clone();
                    if let Some(step) = step {
                        self.progress(row, &step.stage, step.done, step.total, &cancel).await;
                    }
                }
                _ = heartbeat.tick() => self.beat(row, &cancel).await,
                () = &mut overtime, if !timed_out => {
                    timed_out = true;
                    cancel.cancel();
                }
                () = self.stop.cancelled() => return None,
            }
        }
    }

    /// Stops the compilation of the model row `id` created at `created_at` if this process runs
    /// it (at the compiler's next step).
    pub(super) fn stop_compiling(&self, id: &str, created_at: i64) {
        if let Some(cancel) = self
            .running
            .lock()
            .expect("compilations lock")
            .get(&(id.to_owned(), created_at))
        {
            cancel.cancel();
        }
    }

    /// Records a compilation's progress (and that its process is alive); failures are logged:
    /// the compilation goes on. A model no longer compiling (deleted, from any process) has its
    /// compilation stopped.
    async fn progress(&self, row: RowKey<'_>, stage: &str, done: u32, total: u32, cancel: &CancellationToken) {
        let progress = CompileProgress {
            stage: stage.to_owned(),
            done,
            total,
        };
        if !self.record_alive(row, Some(progress)).await {
            cancel.cancel();
        }
    }

    /// Records that the compiling process is alive (see [`Self::progress`]).
    async fn beat(&self, row: RowKey<'_>, cancel: &CancellationToken) {
        if !self.record_alive(row, None).await {
            cancel.cancel();
        }
    }

    /// Touches a compiling model's `updated_at` (its heartbeat), and its progress if given.
    /// False when the model is no longer compiling (a failed write counts as still compiling).
    async fn record_alive(&self, row: RowKey<'_>, progress: Option<CompileProgress>) -> bool {
        match self.store.record_alive(row, progress.as_ref()).await {
            Ok(compiling) => compiling,
            Err(error) => {
                tracing::warn!(
                    model = row.0,
                    error = format!("{error:#}"),
                    "recording that a compilation is alive"
                );
                true
            }
        }
    }

    /// Fails the compilations no process runs any more: with SQLite (one process, at start-up)
    /// every one; with PostgreSQL those without a heartbeat for [`ORPHANED_AFTER`]. How many.
    pub async fn recover(&self) -> anyhow::Result<u64> {
        let silent_since = if self.store.is_shared() {
            self.store.now().await? - ORPHANED_AFTER.as_millis() as i64
        } else {
            i64::MAX
        };
        let failed = self
            .store
            .fail_compiling_silent_since(silent_since, INTERRUPTED)
            .await?;
        if failed > 0 {
            tracing::warn!(failed, "compilations interrupted by a restart marked failed");
        }
        Ok(failed)
    }

    /// With PostgreSQL, fails compilations whose process died, every [`HEARTBEAT`] until
    /// `stop` (with SQLite the start-up recovery does, as this process runs every compilation).
    pub async fn maintain(self: Arc<Self>, stop: CancellationToken) {
        if !self.store.is_shared() {
            return;
        }
        let mut ticks = tokio::time::interval(HEARTBEAT);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stop.cancelled() => return,
            }
            if let Err(error) = self.recover().await {
                tracing::error!(error = format!("{error:#}"), "failing orphaned compilations");
            }
        }
    }

    /// At shutdown: stops waiting and running compilations (each marks its model failed) and
    /// waits until they have.
    pub async fn shut_down(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Compiles and reports (blocking), checking that the compiled model reads the inputs the
/// upload was checked against.
fn compile_checked(
    checked: Checked,
    options: &CompileOptions,
    progress: &mut dyn FnMut(CompileStep) -> ControlFlow<()>,
) -> blindfold_model::Result<Reported> {
    let reported = compile_and_report(
        &checked.format,
        &checked.model,
        &checked.calibration,
        checked.test.as_ref(),
        options,
        progress,
    )?;
    let names = reported.compiled.spec().features.iter().map(|f| f.name.as_str());
    if !names.eq(checked.features.iter().map(String::as_str)) {
        return Err(ModelError::InvalidData(
            "the compiled model's inputs differ from the uploaded model's".into(),
        ));
    }
    Ok(reported)
}
