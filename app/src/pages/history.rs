use leptos::prelude::*;

use crate::api::{JobInfo, JobStatus, SessionInfo};
use crate::components::{Column, ErrorAlert, PageHeader, Table, local_action, local_time};
use crate::error::AppError;
use crate::flow::PredictionExt;
use crate::{client, flow, use_auth, use_models};

const COLUMNS: &[Column] = &[
    Column::new("Time"),
    Column::new("Model"),
    Column::new("Status"),
    Column::new("Duration"),
    Column::new("Result"),
    Column::hidden("Actions"),
];

#[component]
pub fn HistoryPage() -> impl IntoView {
    let jobs = LocalResource::new(|| async { client::jobs().await.map_err(AppError::from) });
    let auth = use_auth();
    let clear = local_action(move |session: &SessionInfo| {
        let session = session.clone();
        async move {
            let cleared = client::clear_predictions(&session).await.map_err(AppError::from);
            jobs.refetch();
            cleared
        }
    });
    let on_clear = move |_| {
        let confirmed = window()
            .confirm_with_message("Delete every finished or queued prediction and its stored result?")
            .unwrap_or(false);
        if let (true, Some(session)) = (confirmed, auth.get_untracked()) {
            clear.dispatch_local(session);
        }
    };
    view! {
        <PageHeader title="History">
            "Your past predictions. The server keeps only encrypted results: decrypting one happens "
            "in this browser, with your client key."
        </PageHeader>
        <div class="d-flex gap-2 mb-3">
            <button type="button" class="btn btn-outline-secondary btn-sm" on:click=move |_| jobs.refetch()>
                "Refresh"
            </button>
            <button type="button" class="btn btn-outline-danger btn-sm" on:click=on_clear
                disabled=move || clear.pending().get()>
                "Clear history"
            </button>
        </div>
        <ErrorAlert error=Signal::derive(move || clear.value().get().and_then(Result::err).map(|e| e.to_string())) />
        <Transition fallback=|| view! { <p>"Loading your predictions…"</p> }>
            {move || jobs.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error=Some(error.to_string()) /> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p>"No predictions yet."</p> }.into_any(),
                Ok(list) => view! {
                    <Table class="history" columns=COLUMNS>
                        {list.into_iter().map(|job| view! { <JobRow job on_deleted=move || jobs.refetch() /> }).collect_view()}
                    </Table>
                }.into_any(),
            })}
        </Transition>
    }
}

/// Which stored result to decrypt: the job and its model.
#[derive(Debug, Clone)]
struct StoredResult {
    session: SessionInfo,
    job: JobInfo,
}

#[component]
fn JobRow(job: JobInfo, on_deleted: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let auth = use_auth();
    let delete = local_action(move |(session, id): &(SessionInfo, String)| {
        let (session, id) = (session.clone(), id.clone());
        async move {
            let deleted = client::delete_prediction(&session, &id).await.map_err(AppError::from);
            if deleted.is_ok() {
                on_deleted();
            }
            deleted
        }
    });
    let delete_id = job.id.clone();
    let on_delete = move |_| {
        if let Some(session) = auth.get_untracked() {
            delete.dispatch_local((session, delete_id.clone()));
        }
    };
    let running = job.status == JobStatus::Running;
    let models = use_models();
    let decrypt = local_action(move |stored: &StoredResult| {
        let stored = stored.clone();
        async move {
            // The shared model list; fetched here only if it has not arrived yet.
            let all = match models.0.get_untracked() {
                Some(Ok(all)) => all,
                _ => client::models().await.unwrap_or_default(),
            };
            let labels = all
                .into_iter()
                .find(|m| m.id == stored.job.model_id)
                .map(|m| m.labels)
                .unwrap_or_default();
            match flow::decrypt_job(&stored.session, &stored.job).await {
                Ok(prediction) => prediction.describe(&labels),
                Err(error) => format!("Cannot decrypt here: {error}"),
            }
        }
    });
    let (pending, answer) = (decrypt.pending(), decrypt.value());
    let done = job.status == JobStatus::Done;
    let stored_job = job.clone();
    let on_decrypt = move |_| {
        let Some(session) = auth.get_untracked() else { return };
        decrypt.dispatch_local(StoredResult {
            session,
            job: stored_job.clone(),
        });
    };
    let status = match (job.status, &job.error) {
        (JobStatus::Failed, Some(error)) => format!("failed: {error}"),
        (status, _) => status.to_string(),
    };
    view! {
        <tr>
            <td>{local_time(job.created_at as f64)}</td>
            <td>{job.model_id.clone()}</td>
            <td>{status}</td>
            <td>{job.duration_s().map(|s| format!("{s:.2} s")).unwrap_or_else(|| "–".into())}</td>
            <td>
                {move || match answer.get() {
                    Some(text) => view! { <span data-testid="history-result">{text}</span> }.into_any(),
                    None if done => view! {
                        <button type="button" class="btn btn-outline-primary btn-sm" on:click=on_decrypt.clone()
                            disabled=move || pending.get()>
                            "Decrypt"
                        </button>
                    }.into_any(),
                    None => view! { <span>"–"</span> }.into_any(),
                }}
            </td>
            <td class="text-end">
                {move || delete.value().get().and_then(Result::err).map(|error| view! {
                    <span class="text-danger me-2">{error.to_string()}</span>
                })}
                <button type="button" class="btn btn-outline-danger btn-sm" on:click=on_delete.clone()
                    disabled=move || running || delete.pending().get()
                    title=if running { "Running: it can be deleted once it has finished" } else { "Delete this prediction and its stored result" }>
                    "Delete"
                </button>
            </td>
        </tr>
    }
}
