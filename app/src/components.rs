//! Pieces shared by several pages.

pub mod wording;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::api::{FeatureInfo, ModelState, Role, SessionInfo};
use crate::client::{self, ApiFailure};
use crate::error::{AppError, AppResult};
use crate::flow::Progress;
use crate::{use_auth, use_models, use_selected_model};

/// [`Action::new_local`] for a function that captures only `Copy` handles (signals, other
/// actions, [`Models`](crate::Models)); everything else travels in the action's input.
///
/// `new_local` keeps its function in a `SendWrapper`, which panics when dropped on another
/// thread than the one that made it if it holds anything to drop. Server rendering creates the
/// page's actions too and may drop the page on another thread (leptos-rs/leptos#4402); a `Copy`
/// function holds nothing to drop.
pub fn local_action<I, O, Fu>(action_fn: impl Fn(&I) -> Fu + Copy + 'static) -> Action<I, O>
where
    I: 'static,
    O: 'static,
    Fu: Future<Output = O> + 'static,
{
    Action::new_local(action_fn)
}

/// A page's title (in the browser tab and as its heading) and its lead paragraph.
#[component]
pub fn PageHeader(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <Title text=format!("{title} · Blindfold") />
        <h1>{title}</h1>
        <p class="text-body-secondary">{children()}</p>
    }
}

#[component]
pub fn NavBar() -> impl IntoView {
    let auth = use_auth();
    let log_out = local_action(move |session: &SessionInfo| {
        let session = session.clone();
        async move {
            if let Err(failure) = client::logout(&session).await {
                leptos::logging::warn!("logout: {failure}");
            }
            // A full page load: nothing of the session survives in memory, the crypto
            // worker included.
            if window().location().assign("/").is_err() {
                auth.set(None);
            }
        }
    });
    let on_log_out = move |_| {
        if let Some(session) = auth.get_untracked() {
            log_out.dispatch_local(session);
        }
    };
    view! {
        <nav class="navbar navbar-expand bg-dark border-bottom" data-bs-theme="dark" aria-label="Main">
            <div class="container flex-wrap">
                <a class="navbar-brand fw-semibold" href="/">"Blindfold"</a>
                <ul class="navbar-nav flex-wrap">
                    <li class="nav-item"><a class="nav-link" href="/">"Home"</a></li>
                    <Show
                        when=move || auth.with(Option::is_some)
                        fallback=|| view! {
                            <li class="nav-item"><a class="nav-link" href="/signup">"Sign up"</a></li>
                            <li class="nav-item"><a class="nav-link" href="/login">"Log in"</a></li>
                        }
                    >
                        <li class="nav-item"><a class="nav-link" href="/keys">"Keys"</a></li>
                        <li class="nav-item"><a class="nav-link" href="/predict">"Predict"</a></li>
                        <li class="nav-item"><a class="nav-link" href="/history">"History"</a></li>
                        <Show when=move || is_owner(auth)>
                            <li class="nav-item"><a class="nav-link" href="/models">"Models"</a></li>
                        </Show>
                        <li class="nav-item"><a class="nav-link" href="/account">"Account"</a></li>
                        <li class="nav-item">
                            <button type="button" class="nav-link btn btn-link" on:click=on_log_out>
                                "Log out"
                            </button>
                        </li>
                    </Show>
                </ul>
                <Show when=move || auth.with(Option::is_some)>
                    <span class="navbar-text small">
                        {move || auth.with(|s| s.as_ref().map(|s| format!("Signed in as {}", s.username)))}
                    </span>
                </Show>
            </div>
        </nav>
    }
}

/// Shows its children to a logged-in user and sends anyone else to the login page.
#[component]
pub fn RequireLogin(children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    move || {
        if auth.with(Option::is_some) {
            children().into_any()
        } else {
            view! { <Redirect path="/login" /> }.into_any()
        }
    }
}

/// Whether the logged-in user may publish models (tracked).
pub fn is_owner(auth: RwSignal<Option<SessionInfo>>) -> bool {
    auth.with(|session| session.as_ref().is_some_and(|s| s.role == Role::Owner))
}

/// Shows its children to a model owner, and anyone else how one becomes an owner. Inside
/// [`RequireLogin`]: the API answers only owners anyway, this saves the others a failed call.
#[component]
pub fn RequireOwner(children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    move || {
        if is_owner(auth) {
            children().into_any()
        } else {
            view! {
                <div class="alert alert-info" role="status" data-testid="owners-only">
                    "Only model owners can publish models; an administrator grants the role with "
                    <code>"blindfold-server grant-owner USERNAME"</code> "."
                </div>
            }
            .into_any()
        }
    }
}

/// A model's state as a coloured badge.
#[component]
pub fn ModelStateBadge(state: ModelState) -> impl IntoView {
    view! {
        <span class=format!("badge {}", wording::state_tone(state)) data-testid="model-state">
            {wording::state_label(state)}
        </span>
    }
}

/// A picker of the catalogue's models, bound to the selected model, with the selected model's
/// description below it.
#[component]
pub fn ModelPicker() -> impl IntoView {
    let models = use_models();
    let selected = use_selected_model();
    let description = move || {
        selected
            .with(|id| models.find(id))
            .map(|m| m.description)
            .filter(|d| !d.is_empty())
    };
    view! {
        <div class="mb-3 model-picker">
            <label class="form-label" for="model">"Model"</label>
            <select
                id="model"
                class="form-select"
                aria-describedby="model-description"
                on:change=move |ev| selected.set(event_target_value(&ev))
                prop:value=move || selected.get()
            >
                {move || {
                    models
                        .list()
                        .into_iter()
                        .map(|m| {
                            let id = m.id.clone();
                            view! { <option value=id.clone() selected=move || selected.get() == id>{m.name}</option> }
                        })
                        .collect_view()
                }}
            </select>
            <div id="model-description" class="form-text" data-testid="model-description">{description}</div>
        </div>
    }
}

/// A flow's progress: the stage in words and a bar (indeterminate while the fraction is
/// unknown). Announced politely to screen readers.
#[component]
pub fn ProgressView(progress: RwSignal<Option<Progress>>) -> impl IntoView {
    view! {
        <div class="progress-view my-3" role="status" aria-live="polite">
            {move || {
                progress
                    .get()
                    .map(|p| {
                        let text = match &p.detail {
                            Some(detail) => format!("{}: {detail}", p.stage.label()),
                            None => format!("{}…", p.stage.label()),
                        };
                        view! {
                            <p class="mb-1 small">{text}</p>
                            {match p.fraction {
                                Some(f) => view! { <progress class="w-100" max="1" value=f.to_string() aria-label="Progress"></progress> }.into_any(),
                                None => view! { <progress class="w-100" aria-label="Progress"></progress> }.into_any(),
                            }}
                        }
                    })
            }}
        </div>
    }
}

/// An alert with an error message, when there is one.
#[component]
pub fn ErrorAlert(#[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|message| view! { <div class="alert alert-danger" role="alert">{message}</div> })
    }
}

/// A column heading of a [`Table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    text: &'static str,
    /// Read by screen readers only (an actions column).
    hidden: bool,
    /// A tooltip that says more than the heading.
    hint: Option<&'static str>,
    span: u8,
}

impl Column {
    pub const fn new(text: &'static str) -> Self {
        Self {
            text,
            hidden: false,
            hint: None,
            span: 1,
        }
    }

    /// A heading for screen readers only, over a column whose cells speak for themselves.
    pub const fn hidden(text: &'static str) -> Self {
        Self {
            hidden: true,
            ..Self::new(text)
        }
    }

    pub const fn hint(self, hint: &'static str) -> Self {
        Self {
            hint: Some(hint),
            ..self
        }
    }

    /// Over `span` columns of cells.
    pub const fn span(self, span: u8) -> Self {
        Self { span, ..self }
    }
}

/// A table in the site's style: scrolling sideways on a narrow screen, its `columns` as
/// headings, its rows the children. `class` names what the table holds (for the stylesheet
/// and the tests); `compact` tightens its cells.
#[component]
pub fn Table(
    class: &'static str,
    columns: &'static [Column],
    #[prop(optional)] compact: bool,
    children: Children,
) -> impl IntoView {
    let headings = columns
        .iter()
        .map(|column| {
            let text = if column.hidden {
                view! { <span class="visually-hidden">{column.text}</span> }.into_any()
            } else {
                column.text.into_any()
            };
            view! { <th scope="col" colspan=(column.span > 1).then(|| column.span.to_string()) title=column.hint>{text}</th> }
        })
        .collect_view();
    view! {
        <div class="table-responsive">
            <table class=format!("table align-middle {}{class}", if compact { "table-sm " } else { "" })>
                <thead><tr>{headings}</tr></thead>
                <tbody>{children()}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// A form's controls, disabled until the page has hydrated (see [`crate::Hydrated`]) and
/// while `disabled` holds.
#[component]
pub fn FormControls(#[prop(optional, into)] disabled: Signal<bool>, children: Children) -> impl IntoView {
    let hydrated = crate::use_hydrated();
    view! { <fieldset class="form-controls" disabled=move || !hydrated.get() || disabled.get()>{children()}</fieldset> }
}

/// The rules each form field broke, by field name, as the API reports them.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// A labelled text input bound to `value`, with the rules the server said it broke (`fields`,
/// looked up by the input's id).
#[component]
pub fn TextField(
    id: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    value: RwSignal<String>,
    #[prop(optional, into)] fields: Signal<FieldErrors>,
) -> impl IntoView {
    let problems = move || fields.with(|f| f.get(id).cloned().unwrap_or_default());
    let error_id = format!("{id}-errors");
    view! {
        <div class="mb-3">
            <label class="form-label" for=id>{label}</label>
            <input
                id=id
                name=id
                type=kind
                autocomplete=autocomplete
                class="form-control"
                class:is-invalid=move || !problems().is_empty()
                aria-describedby=error_id.clone()
                bind:value=value
            />
            <ul id=error_id class="invalid-feedback d-block list-unstyled mb-0">
                {move || problems().into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}
            </ul>
        </div>
    }
}

/// What a failed form shows: the rules each of its `known` fields broke, under the field, and
/// for the alert the server's explanation, followed by the rules of any field the form does
/// not show (nothing the server said goes unseen).
pub fn explain_failure(failure: Option<&ApiFailure>, known: &[&str]) -> (FieldErrors, Option<String>) {
    let Some(failure) = failure else {
        return Default::default();
    };
    let (shown, elsewhere): (FieldErrors, FieldErrors) = failure
        .body
        .fields
        .clone()
        .into_iter()
        .partition(|(field, _)| known.contains(&field.as_str()));
    let mut message = failure.to_string();
    if !elsewhere.is_empty() {
        let rules: Vec<String> = elsewhere
            .into_iter()
            .map(|(field, problems)| format!("{field}: {}", problems.join(" ")))
            .collect();
        message.push_str(&format!(" ({})", rules.join("; ")));
    }
    (shown, Some(message))
}

/// The rules a field broke, as the server named them (tracked).
pub fn problems_of(fields: Signal<FieldErrors>, field: &str) -> Vec<String> {
    fields.with(|f| f.get(field).cloned().unwrap_or_default())
}

/// A form field: its label, its control (`children`, which names `{id}-hint {id}-errors` in
/// its `aria-describedby` and is invalid when [`problems_of`] its field are some), an optional
/// hint, and the rules the server said the field broke.
#[component]
pub fn FormField(
    /// The control's id, which the label points at.
    id: &'static str,
    label: &'static str,
    /// The field's name in the server's field errors.
    field: &'static str,
    #[prop(into)] fields: Signal<FieldErrors>,
    #[prop(optional)] hint: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="mb-3">
            <label class="form-label" for=id>{label}</label>
            {children()}
            {hint.map(|hint| view! { <div id=format!("{id}-hint") class="form-text">{hint}</div> })}
            <ul id=format!("{id}-errors") class="invalid-feedback d-block list-unstyled mb-0">
                {move || problems_of(fields, field).into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}
            </ul>
        </div>
    }
    .into_any()
}

/// One model input as a form edits it: its name is fixed, its description, unit and valid
/// range are the owner's. A signal each, so that typing in one re-renders nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDetails {
    pub name: String,
    pub description: RwSignal<String>,
    pub unit: RwSignal<String>,
    /// The valid range's ends as typed (empty: none).
    pub valid_min: RwSignal<String>,
    pub valid_max: RwSignal<String>,
}

impl InputDetails {
    pub fn new(info: FeatureInfo) -> Self {
        let bound = |b: Option<f64>| RwSignal::new(b.map(|b| b.to_string()).unwrap_or_default());
        Self {
            name: info.name,
            description: RwSignal::new(info.description),
            unit: RwSignal::new(info.unit),
            valid_min: bound(info.valid_min),
            valid_max: bound(info.valid_max),
        }
    }

    /// What the form holds, as the API takes it (a range end that is not a number is none: the
    /// number inputs hold only numbers).
    pub fn info_untracked(&self) -> FeatureInfo {
        let bound = |text: RwSignal<String>| text.get_untracked().trim().parse::<f64>().ok();
        FeatureInfo {
            name: self.name.clone(),
            description: self.description.get_untracked().trim().to_owned(),
            unit: self.unit.get_untracked().trim().to_owned(),
            valid_min: bound(self.valid_min),
            valid_max: bound(self.valid_max),
        }
    }
}

/// A row per model input with its description and unit to fill in (`prefix` keeps the inputs'
/// ids apart from the page's other forms). Each row's labels name its input, so that the
/// page's own "Description" field stays the only one labelled exactly that.
#[component]
pub fn InputDetailsTable(prefix: &'static str, #[prop(into)] inputs: Signal<Vec<InputDetails>>) -> impl IntoView {
    let rows = move || {
        inputs
            .get()
            .into_iter()
            .enumerate()
            .map(|(i, input)| {
                let (description_id, unit_id) = (format!("{prefix}-{i}-description"), format!("{prefix}-{i}-unit"));
                let (min_id, max_id) = (format!("{prefix}-{i}-min"), format!("{prefix}-{i}-max"));
                let name = input.name.clone();
                view! {
                    <tr data-testid="input-details">
                        <th scope="row" class="font-monospace small">{input.name.clone()}</th>
                        <td>
                            <label class="visually-hidden" for=description_id.clone()>{format!("Description of {name}")}</label>
                            <input id=description_id type="text" class="form-control form-control-sm" bind:value=input.description />
                        </td>
                        <td>
                            <label class="visually-hidden" for=unit_id.clone()>{format!("Unit of {name}")}</label>
                            <input id=unit_id type="text" class="form-control form-control-sm input-unit" bind:value=input.unit />
                        </td>
                        <td>
                            <label class="visually-hidden" for=min_id.clone()>{format!("Lowest valid value of {name}")}</label>
                            <input id=min_id type="number" step="any" class="form-control form-control-sm input-bound" bind:value=input.valid_min />
                        </td>
                        <td>
                            <label class="visually-hidden" for=max_id.clone()>{format!("Highest valid value of {name}")}</label>
                            <input id=max_id type="number" step="any" class="form-control form-control-sm input-bound" bind:value=input.valid_max />
                        </td>
                    </tr>
                }
            })
            .collect_view()
    };
    const COLUMNS: &[Column] = &[
        Column::new("Input"),
        Column::new("Description"),
        Column::new("Unit"),
        Column::new("Valid range (optional)")
            .hint("Values outside this range refuse a row; empty: any value")
            .span(2),
    ];
    view! { <Table class="input-details" columns=COLUMNS compact=true>{rows}</Table> }.into_any()
}

/// Reloads a resource about every `period` while `busy` says its value is still changing
/// (a model compiling): bumps `tick`, which the resource tracks. One timer at a time, and
/// none once the page is gone (the bump finds `tick` disposed and does nothing); effects run
/// in the browser only, so server rendering never waits.
pub fn poll_while<T: 'static>(
    resource: LocalResource<T>,
    tick: RwSignal<u64>,
    period: Duration,
    busy: impl Fn(&T) -> bool + 'static,
) {
    let waiting = Rc::new(Cell::new(false));
    Effect::new(move |_| {
        let busy_now = resource.with(|value| value.as_ref().is_some_and(&busy));
        if busy_now && !waiting.get() {
            waiting.set(true);
            let waiting = waiting.clone();
            set_timeout(
                move || {
                    waiting.set(false);
                    tick.try_update(|n| *n += 1);
                },
                period,
            );
        }
    });
}

/// The file chosen in the file input an event came from.
pub fn chosen_file(ev: &leptos::ev::Event) -> Option<web_sys::File> {
    let input: web_sys::HtmlInputElement = event_target(ev);
    input.files().and_then(|files| files.get(0))
}

/// A chosen file's text; `what` names the file in the error.
pub async fn read_text(file: web_sys::File, what: &'static str) -> AppResult<String> {
    gloo_file::futures::read_as_text(&gloo_file::File::from(file))
        .await
        .map_err(|e| AppError::File {
            what,
            reason: e.to_string(),
        })
}

/// Milliseconds since the epoch in the browser's locale.
pub fn local_time(ms: f64) -> String {
    String::from(js_sys::Date::new(&ms.into()).to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorBody;

    #[test]
    fn failures_show_known_fields_under_them_and_the_rest_in_the_alert() {
        assert_eq!(explain_failure(None, &["id"]), (FieldErrors::new(), None));
        let failure = ApiFailure {
            status: 422,
            body: ErrorBody {
                error: "invalid".into(),
                detail: "the upload is invalid".into(),
                fields: FieldErrors::from([
                    ("id".to_owned(), vec!["taken".to_owned()]),
                    ("inputs[0].unit".to_owned(), vec!["too long".to_owned()]),
                ]),
            },
        };
        let (fields, message) = explain_failure(Some(&failure), &["id", "name"]);
        assert_eq!(fields, FieldErrors::from([("id".to_owned(), vec!["taken".to_owned()])]));
        assert_eq!(
            message.as_deref(),
            Some("the upload is invalid (inputs[0].unit: too long)")
        );
    }
}
