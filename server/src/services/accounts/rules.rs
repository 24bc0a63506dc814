//! What makes a username and a password acceptable (Django's rules, as the seed had them), and
//! how usernames are normalised and compared.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;

/// Longest username.
pub const MAX_USERNAME_CHARS: usize = 150;
/// Shortest password.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password: beyond it a request is refused before any work (hashing costs time in
/// the password's length, the similarity check its square).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// The username as stored and shown: NFKC of what was typed, trimmed (Django normalises
/// usernames with NFKC, so that look-alike compatibility characters such as full-width letters
/// name the same account).
pub fn normalize_username(typed: &str) -> String {
    typed.nfkc().collect::<String>().trim().to_owned()
}

/// What makes usernames the same: the normalised username, lower-cased (NFKC once more, since
/// lower-casing can leave a string that is not NFKC). Unique in the database.
pub fn username_key(typed: &str) -> String {
    normalize_username(typed).to_lowercase().nfkc().collect()
}

/// The fields over their length limits, checked before anything else about a request so that
/// oversized input costs no work: each named field is a password (or its confirmation).
pub fn length_problems(
    username: Option<&str>,
    passwords: &[(&'static str, &str)],
) -> BTreeMap<&'static str, Vec<String>> {
    let mut fields = BTreeMap::new();
    if let Some(username) = username
        && username.chars().count() > MAX_USERNAME_CHARS
    {
        fields.insert(
            "username",
            vec![format!(
                "Ensure this value has at most {MAX_USERNAME_CHARS} characters."
            )],
        );
    }
    for (field, password) in passwords {
        if password.chars().count() > MAX_PASSWORD_CHARS {
            fields.insert(
                *field,
                vec![format!(
                    "Ensure this value has at most {MAX_PASSWORD_CHARS} characters."
                )],
            );
        }
    }
    fields
}

/// 40,000 common passwords (Django's list merged with zxcvbn's), lower-cased.
static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let mut text = String::new();
    flate2::read::GzDecoder::new(&include_bytes!("../../../common-passwords.txt.gz")[..])
        .read_to_string(&mut text)
        .expect("the embedded password list is valid gzip");
    text.lines().map(str::to_owned).collect()
});

pub fn common_password_count() -> usize {
    COMMON_PASSWORDS.len()
}

/// Everything wrong with a username, empty when it is acceptable.
pub fn username_problems(username: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if username.is_empty() {
        problems.push("This field is required.".to_owned());
    }
    if username.chars().count() > MAX_USERNAME_CHARS {
        problems.push(format!(
            "Ensure this value has at most {MAX_USERNAME_CHARS} characters."
        ));
    }
    if !username.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c)) {
        problems.push("Enter a valid username: letters, digits and @/./+/-/_ only.".to_owned());
    }
    problems
}

/// Everything wrong with a password for this username, empty when it is acceptable.
pub fn password_problems(password: &str, confirmation: &str, username: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if password.chars().count() < MIN_PASSWORD_CHARS {
        problems.push(format!(
            "This password is too short. It must contain at least {MIN_PASSWORD_CHARS} characters."
        ));
    }
    if !password.is_empty() && password.chars().all(|c| c.is_ascii_digit()) {
        problems.push("This password is entirely numeric.".to_owned());
    }
    if COMMON_PASSWORDS.contains(&password.to_lowercase()) {
        problems.push("This password is too common.".to_owned());
    }
    if too_similar(password, username) {
        problems.push("The password is too similar to the username.".to_owned());
    }
    if password != confirmation {
        problems.push("The two password fields didn't match.".to_owned());
    }
    problems
}

/// Like Django's UserAttributeSimilarityValidator: similar when either contains the other or
/// their normalised similarity reaches 0.7.
fn too_similar(password: &str, username: &str) -> bool {
    if username.is_empty() || password.is_empty() {
        return false;
    }
    let (p, u) = (password.to_lowercase(), username.to_lowercase());
    u.contains(&p) || p.contains(&u) || strsim::normalized_levenshtein(&p, &u) >= 0.7
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_nfkc_and_compared_ignoring_case() {
        assert_eq!(normalize_username("  \u{FF21}lice "), "Alice");
        assert_eq!(username_key("\u{FF21}lice"), "alice");
        assert_eq!(username_key("ALICE"), username_key("alice"));
        // The ligature "fi" is two letters under NFKC.
        assert_eq!(username_key("\u{FB01}sh"), "fish");
        // Idempotent: keys recomputed at start-up do not drift.
        for name in ["\u{FF21}lice", "\u{130}stanbul", "Stra\u{DF}e", "\u{212B}ngstr\u{F6}m"] {
            let key = username_key(name);
            assert_eq!(username_key(&key), key, "{name}");
        }
    }

    #[test]
    fn lengths_are_checked_by_characters() {
        assert!(length_problems(Some(&"\u{E9}".repeat(150)), &[("password", &"p".repeat(256))]).is_empty());
        let fields = length_problems(
            Some(&"a".repeat(151)),
            &[("password", &"p".repeat(257)), ("password_confirmation", "short")],
        );
        assert_eq!(fields.keys().copied().collect::<Vec<_>>(), ["password", "username"]);
        assert!(fields["password"][0].contains("at most 256"));
    }

    #[test]
    fn usernames() {
        assert!(username_problems("alice.b+test@x_y-z").is_empty());
        assert!(!username_problems("").is_empty());
        assert!(!username_problems("has space").is_empty());
        assert!(!username_problems(&"a".repeat(151)).is_empty());
        assert!(username_problems(&"a".repeat(150)).is_empty());
    }

    #[test]
    fn passwords() {
        assert!(common_password_count() >= 20_000);
        assert!(password_problems("correct horse battery", "correct horse battery", "alice").is_empty());
        assert_eq!(password_problems("Zq8#vk", "Zq8#vk", "alice").len(), 1);
        assert!(
            password_problems("1234567890123", "1234567890123", "alice")
                .iter()
                .any(|p| p.contains("numeric"))
        );
        assert!(
            password_problems("password", "password", "alice")
                .iter()
                .any(|p| p.contains("common"))
        );
        assert!(
            password_problems("Password123", "Password123", "bob")
                .iter()
                .any(|p| p.contains("common"))
        );
        assert!(
            password_problems("alice2024!", "alice2024!", "alice")
                .iter()
                .any(|p| p.contains("similar"))
        );
        assert!(
            password_problems("correct horse battery", "correct horse", "alice")
                .iter()
                .any(|p| p.contains("match"))
        );
    }
}
