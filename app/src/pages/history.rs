use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use super::predict::describe;
use crate::api::{JobInfo, ModelSummary};
use crate::components::{local_time, models_resource};
use crate::{client, flow, use_auth};

#[component]
pub fn HistoryPage() -> impl IntoView {
    let jobs = LocalResource::new(|| async { client::jobs().await.map_err(|e| e.message()) });
    let models = models_resource();
    view! {
        <Title text="History · Blindfold" />
        <h1>"History"</h1>
        <p class="text-body-secondary">
            "Your past predictions. The server keeps only encrypted results: decrypting one happens "
            "in this browser, with your client key."
        </p>
        <button type="button" class="btn btn-outline-secondary btn-sm mb-3" on:click=move |_| jobs.refetch()>
            "Refresh"
        </button>
        <Transition fallback=|| view! { <p>"Loading your predictions…"</p> }>
            {move || jobs.get().map(|result| match result {
                Err(message) => view! { <div class="alert alert-danger" role="alert">{message}</div> }.into_any(),
                Ok(jobs) if jobs.is_empty() => view! { <p>"No predictions yet."</p> }.into_any(),
                Ok(jobs) => view! {
                    <div class="table-responsive">
                        <table class="table align-middle history">
                            <thead>
                                <tr>
                                    <th scope="col">"Time"</th>
                                    <th scope="col">"Model"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col">"Duration"</th>
                                    <th scope="col">"Result"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {jobs.into_iter().map(|job| view! { <JobRow job models /> }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn JobRow(job: JobInfo, models: LocalResource<Result<Vec<ModelSummary>, String>>) -> impl IntoView {
    let auth = use_auth();
    let answer = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let done = job.status == "done";
    let (id, model) = (job.id.clone(), job.model_id.clone());
    let decrypt = move |_| {
        let Some(session) = auth.get_untracked() else { return };
        let (id, model) = (id.clone(), model.clone());
        busy.set(true);
        spawn_local(async move {
            // The page's model list; fetched here only if it has not arrived yet.
            let all = match models.get_untracked() {
                Some(Ok(all)) => all,
                _ => client::models().await.unwrap_or_default(),
            };
            let labels = all
                .into_iter()
                .find(|m| m.id == model)
                .map(|m| m.labels)
                .unwrap_or_default();
            let text = match flow::decrypt_job(&session, &model, &id).await {
                Ok(prediction) => describe(&prediction, &labels),
                Err(message) => format!("Cannot decrypt here: {message}"),
            };
            busy.set(false);
            answer.set(Some(text));
        });
    };
    let status = match (&job.status[..], &job.error) {
        ("failed", Some(error)) => format!("failed: {error}"),
        (status, _) => status.to_owned(),
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
                        <button type="button" class="btn btn-outline-primary btn-sm" on:click=decrypt.clone()
                            disabled=move || busy.get()>
                            "Decrypt"
                        </button>
                    }.into_any(),
                    None => view! { <span>"–"</span> }.into_any(),
                }}
            </td>
        </tr>
    }
}
