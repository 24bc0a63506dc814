use std::collections::BTreeMap;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

use crate::client;
use crate::components::ErrorAlert;
use crate::use_auth;

/// Field errors by field name, as the API reports them.
pub type FieldErrors = RwSignal<BTreeMap<String, Vec<String>>>;

#[component]
pub fn SignupPage() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let confirmation = RwSignal::new(String::new());
    let fields: FieldErrors = RwSignal::new(BTreeMap::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            let result = client::register(
                &username.get_untracked(),
                &password.get_untracked(),
                &confirmation.get_untracked(),
            )
            .await;
            busy.set(false);
            match result {
                Ok(session) => {
                    auth.set(Some(session));
                    navigate("/keys", Default::default());
                }
                Err(failure) => {
                    error.set(failure.body.fields.is_empty().then(|| failure.message()));
                    fields.set(failure.body.fields);
                }
            }
        });
    };

    view! {
        <Title text="Sign up · Blindfold" />
        <div class="narrow">
            <h1>"Sign up"</h1>
            <ErrorAlert error />
            <form method="post" on:submit=submit novalidate>
                <TextField id="username" label="Username" kind="text" autocomplete="username" value=username fields />
                <TextField id="password" label="Password" kind="password" autocomplete="new-password" value=password fields />
                <TextField
                    id="password_confirmation"
                    label="Password confirmation"
                    kind="password"
                    autocomplete="new-password"
                    value=confirmation
                    fields
                />
                <p class="form-text">"At least 8 characters, not a common password, not all digits, not like your username."</p>
                <button type="submit" class="btn btn-primary" disabled=move || busy.get()>"Sign up"</button>
            </form>
            <p class="mt-3">"Already registered? " <a href="/login">"Log in"</a></p>
        </div>
    }
}

/// A labelled text input bound to `value`, with the rules the server said it broke.
#[component]
pub fn TextField(
    id: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    value: RwSignal<String>,
    fields: FieldErrors,
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
