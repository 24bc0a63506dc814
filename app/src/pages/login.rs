use crate::api::Credentials;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

use crate::client;
use crate::components::{ErrorAlert, FormControls, TextField, local_action};
use crate::use_auth;

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = use_auth();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());

    let log_in = local_action(move |credentials: &Credentials| {
        let credentials = credentials.clone();
        async move {
            // The future starts under this page's owner, where the router is in reach.
            let navigate = use_navigate();
            match client::login(&credentials.username, &credentials.password).await {
                Ok(session) => {
                    auth.set(Some(session));
                    navigate("/predict", Default::default());
                    Ok(())
                }
                Err(failure) => Err(failure),
            }
        }
    });
    let pending = log_in.pending();
    let outcome = log_in.value();
    // Wrong credentials are the one refusal worded here; the server's words say the rest.
    let error = Signal::derive(move || {
        outcome.with(|o| match o {
            Some(Err(failure)) if failure.status == 401 => Some("Invalid username or password.".to_owned()),
            Some(Err(failure)) => Some(failure.to_string()),
            _ => None,
        })
    });

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        log_in.dispatch_local(Credentials {
            username: username.get_untracked(),
            password: password.get_untracked(),
        });
    };

    view! {
        <Title text="Log in · Blindfold" />
        <div class="narrow">
            <h1>"Log in"</h1>
            <ErrorAlert error />
            <form method="post" on:submit=submit novalidate>
                <FormControls>
                    <TextField id="username" label="Username" kind="text" autocomplete="username" value=username />
                    <TextField id="password" label="Password" kind="password" autocomplete="current-password" value=password />
                    <button type="submit" class="btn btn-primary" disabled=move || pending.get()>"Log in"</button>
                </FormControls>
            </form>
            <p class="mt-3">"New here? " <a href="/signup">"Sign up"</a></p>
        </div>
    }
}
