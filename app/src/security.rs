//! The Content-Security-Policy of the pages.
//!
//! Scripts run only from this origin, plus the inline hydration scripts that carry this
//! response's nonce; WebAssembly may compile (`'wasm-unsafe-eval'`) but nothing may `eval`.
//! Styles come only from this origin: no inline `style` attributes anywhere in the app.
//! COOP/COEP/CORP and the other headers are set by the server for every response.

/// The policy of every response; a page whose inline scripts carry `nonce` allows them too.
/// The server sends it without a nonce on every other response.
pub fn policy(nonce: Option<&str>) -> String {
    let nonce = nonce.map(|nonce| format!(" 'nonce-{nonce}'")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; worker-src 'self'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'"
    )
}

/// Puts the policy with this response's nonce on the page being rendered (server only).
pub fn set_content_security_policy() {
    #[cfg(feature = "ssr")]
    {
        use leptos::prelude::use_context;
        let (Some(nonce), Some(response)) = (
            leptos::nonce::use_nonce(),
            use_context::<leptos_axum::ResponseOptions>(),
        ) else {
            return;
        };
        if let Ok(value) = http::HeaderValue::from_str(&policy(Some(&nonce))) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_policy_allows_wasm_and_the_nonce_but_no_eval_or_inline_code() {
        let policy = super::policy(Some("abc"));
        assert!(policy.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(!policy.contains("'unsafe-eval'"));
        let without = super::policy(None);
        assert!(without.contains("script-src 'self' 'wasm-unsafe-eval';"));
        assert!(!without.contains("nonce"));
    }
}
