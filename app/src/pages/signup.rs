use crate::api::Registration;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

use crate::client::{self, ApiFailure};
use crate::components::{ErrorAlert, FormControls, TextField, local_action};
use crate::use_auth;

#[component]
pub fn SignupPage() -> impl IntoView {
    let auth = use_auth();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let confirmation = RwSignal::new(String::new());

    let register = local_action(move |form: &Registration| {
        let form = form.clone();
        async move {
            // The future starts under this page's owner, where the router is in reach.
            let navigate = use_navigate();
            let session = client::register(&form.username, &form.password, &form.password_confirmation).await?;
            auth.set(Some(session));
            navigate("/keys", Default::default());
            Ok::<_, ApiFailure>(())
        }
    });
    let pending = register.pending();
    let outcome = register.value();
    // A refusal names the rules each field broke; any other failure goes in the alert.
    let failure = move || outcome.with(|o| o.as_ref().and_then(|o| o.as_ref().err()).cloned());
    let fields = Signal::derive(move || failure().map(|f| f.body.fields).unwrap_or_default());
    let error = Signal::derive(move || failure().filter(|f| f.body.fields.is_empty()).map(|f| f.to_string()));

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        register.dispatch_local(Registration {
            username: username.get_untracked(),
            password: password.get_untracked(),
            password_confirmation: confirmation.get_untracked(),
        });
    };

    view! {
        <Title text="Sign up · Blindfold" />
        <div class="narrow">
            <h1>"Sign up"</h1>
            <ErrorAlert error />
            <form method="post" on:submit=submit novalidate>
                <FormControls>
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
                    <button type="submit" class="btn btn-primary" disabled=move || pending.get()>"Sign up"</button>
                </FormControls>
            </form>
            <p class="mt-3">"Already registered? " <a href="/login">"Log in"</a></p>
        </div>
    }
}
