//! The Account page: change the password, log out everywhere, delete the account.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::api::{PasswordChange, SessionInfo};
use crate::client::{self, ApiFailure};
use crate::components::{ErrorAlert, FieldErrors, FormControls, PageHeader, TextField, local_action};
use crate::crypto::{self, KeyOwner};
use crate::use_auth;

/// The field a wrong current password is reported under, in either form.
const WRONG_PASSWORD: &str = "The password is wrong.";

/// What a failed form shows: the rules each field broke (a wrong password under the
/// `password_field`), or else a message for the alert.
fn explain(failure: Option<ApiFailure>, password_field: &str) -> (FieldErrors, Option<String>) {
    match failure {
        None => Default::default(),
        Some(failure) if failure.body.error == "wrong_password" => (
            FieldErrors::from([(password_field.to_owned(), vec![WRONG_PASSWORD.to_owned()])]),
            None,
        ),
        Some(failure) if !failure.body.fields.is_empty() => (failure.body.fields, None),
        Some(failure) => (FieldErrors::new(), Some(failure.to_string())),
    }
}

/// Leaves the page for `path` with a full page load, so that nothing of the ended session
/// stays in memory, the crypto worker included.
fn leave_for(path: &str, auth: RwSignal<Option<SessionInfo>>) {
    if window().location().assign(path).is_err() {
        auth.set(None);
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let auth = use_auth();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let confirmation = RwSignal::new(String::new());
    let delete_password = RwSignal::new(String::new());

    let change = local_action(move |(session, form): &(SessionInfo, PasswordChange)| {
        let (session, form) = (session.clone(), form.clone());
        async move {
            client::change_password(&session, &form).await?;
            for field in [current, new, confirmation] {
                field.set(String::new());
            }
            Ok::<_, ApiFailure>(())
        }
    });
    let end_sessions = local_action(move |session: &SessionInfo| {
        let session = session.clone();
        async move {
            client::log_out_everywhere(&session).await?;
            leave_for("/login", auth);
            Ok::<_, ApiFailure>(())
        }
    });
    let delete = local_action(move |(session, password): &(SessionInfo, String)| {
        let (session, password) = (session.clone(), password.clone());
        async move {
            client::delete_account(&session, &password).await?;
            // The client key this browser holds for the account is useless now: forgotten too,
            // as far as the crypto worker can (the account is gone either way).
            if let Err(message) = crypto::forget(&KeyOwner::new(&session.username)).await {
                leptos::logging::warn!("forgetting the client key: {message}");
            }
            leave_for("/", auth);
            Ok::<_, ApiFailure>(())
        }
    });

    let (changing, ending, deleting) = (change.pending(), end_sessions.pending(), delete.pending());
    let (change_outcome, end_outcome, delete_outcome) = (change.value(), end_sessions.value(), delete.value());
    let change_failure = move || change_outcome.with(|o| o.as_ref().and_then(|o| o.as_ref().err()).cloned());
    let change_fields = Signal::derive(move || explain(change_failure(), "current_password").0);
    let change_error = Signal::derive(move || explain(change_failure(), "current_password").1);
    let changed = move || change_outcome.with(|o| matches!(o, Some(Ok(()))));
    let end_error = Signal::derive(move || {
        end_outcome.with(|o| o.as_ref().and_then(|o| o.as_ref().err()).map(ToString::to_string))
    });
    let delete_failure = move || delete_outcome.with(|o| o.as_ref().and_then(|o| o.as_ref().err()).cloned());
    let delete_fields = Signal::derive(move || explain(delete_failure(), "password").0);
    let delete_error = Signal::derive(move || explain(delete_failure(), "password").1);

    let submit_change = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(session) = auth.get_untracked() else { return };
        if changing.get_untracked() {
            return;
        }
        change.dispatch_local((
            session,
            PasswordChange {
                current_password: current.get_untracked(),
                new_password: new.get_untracked(),
                new_password_confirmation: confirmation.get_untracked(),
            },
        ));
    };
    let on_end_sessions = move |_| {
        if let Some(session) = auth.get_untracked()
            && !ending.get_untracked()
        {
            end_sessions.dispatch_local(session);
        }
    };
    let submit_delete = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(session) = auth.get_untracked() else { return };
        if deleting.get_untracked() {
            return;
        }
        delete.dispatch_local((session, delete_password.get_untracked()));
    };

    view! {
        <PageHeader title="Account">
            {move || auth.with(|s| s.as_ref().map(|s| format!("Signed in as {}. ", s.username)))}
            "Change your password, end your sessions on every device, or delete your account."
        </PageHeader>
        <div class="narrow">
            <section class="mb-5" aria-labelledby="change-password-heading">
                <h2 id="change-password-heading" class="h4">"Change password"</h2>
                <ErrorAlert error=change_error />
                <Show when=changed>
                    <div class="alert alert-success" role="status" data-testid="password-changed">
                        "Password changed. Your other sessions have ended; this one goes on."
                    </div>
                </Show>
                <form method="post" on:submit=submit_change novalidate data-testid="change-password">
                    <FormControls>
                        <TextField
                            id="current_password"
                            label="Current password"
                            kind="password"
                            autocomplete="current-password"
                            value=current
                            fields=change_fields
                        />
                        <TextField
                            id="new_password"
                            label="New password"
                            kind="password"
                            autocomplete="new-password"
                            value=new
                            fields=change_fields
                        />
                        <TextField
                            id="new_password_confirmation"
                            label="New password confirmation"
                            kind="password"
                            autocomplete="new-password"
                            value=confirmation
                            fields=change_fields
                        />
                        <p class="form-text">"At least 8 characters, not a common password, not all digits, not like your username."</p>
                        <button type="submit" class="btn btn-primary" disabled=move || changing.get()>"Change password"</button>
                    </FormControls>
                </form>
            </section>

            <section class="mb-5" aria-labelledby="sessions-heading">
                <h2 id="sessions-heading" class="h4">"Log out everywhere"</h2>
                <p>"Ends every session of your account, on every device and browser, this one included."</p>
                <ErrorAlert error=end_error />
                <button type="button" class="btn btn-outline-secondary" on:click=on_end_sessions disabled=move || ending.get()>
                    "Log out everywhere"
                </button>
            </section>

            <section aria-labelledby="delete-heading">
                <h2 id="delete-heading" class="h4 text-danger">"Delete account"</h2>
                <p>
                    "Deletes your account: your keys, predictions and results on the server, and the "
                    "client keys this browser holds for it. This cannot be undone."
                </p>
                <ErrorAlert error=delete_error />
                <form method="post" on:submit=submit_delete novalidate data-testid="delete-account">
                    <FormControls>
                        <TextField
                            id="password"
                            label="Password"
                            kind="password"
                            autocomplete="current-password"
                            value=delete_password
                            fields=delete_fields
                        />
                        <button type="submit" class="btn btn-danger" disabled=move || deleting.get()>"Delete my account"</button>
                    </FormControls>
                </form>
            </section>
        </div>
    }
}
