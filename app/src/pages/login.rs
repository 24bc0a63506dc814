use std::collections::BTreeMap;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

use super::signup::{FieldErrors, TextField};
use crate::client;
use crate::components::ErrorAlert;
use crate::use_auth;

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
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
            let result = client::login(&username.get_untracked(), &password.get_untracked()).await;
            busy.set(false);
            match result {
                Ok(session) => {
                    auth.set(Some(session));
                    navigate("/predict", Default::default());
                }
                Err(failure) if failure.status == 401 => error.set(Some("Invalid username or password.".into())),
                Err(failure) => error.set(Some(failure.message())),
            }
        });
    };

    view! {
        <Title text="Log in · Blindfold" />
        <div class="narrow">
            <h1>"Log in"</h1>
            <ErrorAlert error />
            <form method="post" on:submit=submit novalidate>
                <TextField id="username" label="Username" kind="text" autocomplete="username" value=username fields />
                <TextField id="password" label="Password" kind="password" autocomplete="current-password" value=password fields />
                <button type="submit" class="btn btn-primary" disabled=move || busy.get()>"Log in"</button>
            </form>
            <p class="mt-3">"New here? " <a href="/signup">"Sign up"</a></p>
        </div>
    }
}
