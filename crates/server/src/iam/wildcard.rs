//! IAM's `*` / `?` wildcards, compiled once: used by `Action`/`NotAction`, `Resource`/
//! `NotResource` and the `StringLike` condition operators.
//!
//! `*` matches any run of characters (also none, also `/` and `:`), `?` exactly one character;
//! nothing else is special. Action patterns are lowercased at compile time and matched against
//! the lowercase action name, so that comparison is case-insensitive without a per-request
//! allocation; resources and condition values match case-sensitively.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wildcard {
    /// `*` alone: matches everything.
    Any,
    /// No wildcard character: plain equality.
    Exact(String),
    /// At least one `*` or `?`.
    Glob(Vec<char>),
}

impl Wildcard {
    pub fn compile(pattern: &str) -> Wildcard {
        if pattern == "*" {
            Wildcard::Any
        } else if pattern.contains(['*', '?']) {
            Wildcard::Glob(pattern.chars().collect())
        } else {
            Wildcard::Exact(pattern.to_string())
        }
    }

    /// Compiles for case-insensitive matching: match it against lowercase text only.
    pub fn compile_lowercase(pattern: &str) -> Wildcard {
        Wildcard::compile(&pattern.to_lowercase())
    }

    pub fn matches(&self, text: &str) -> bool {
        match self {
            Wildcard::Any => true,
            Wildcard::Exact(s) => s == text,
            Wildcard::Glob(pattern) => glob_matches(pattern, text),
        }
    }
}

/// Iterative glob matching with one backtrack point (the last `*`): linear in practice,
/// O(pattern × text) at worst, never recursive, no allocation (`t` is a byte offset that
/// always sits on a character boundary).
fn glob_matches(pattern: &[char], text: &str) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while let Some(c) = text[t..].chars().next() {
        if p < pattern.len() && (pattern[p] == '?' || (pattern[p] != '*' && pattern[p] == c)) {
            p += 1;
            t += c.len_utf8();
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            // Let the last `*` swallow one more character and retry from there.
            let swallowed = text[star_t..].chars().next().map_or(1, char::len_utf8);
            p = star_p + 1;
            t = star_t + swallowed;
            star = Some((star_p, t));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Wildcard::compile(pattern).matches(text)
    }

    #[test]
    fn star_matches_any_run_including_separators() {
        assert!(m("*", ""));
        assert!(m(
            "arn:aws:ivschat:*:*:room/*",
            "arn:aws:ivschat:us-east-1:1:room/abc"
        ));
        assert!(m("a*", "a"));
        assert!(m("*c", "abc"));
        assert!(m("a*b*c", "aXXbYYbZc"));
        assert!(!m("a*b*c", "aXXbYYbZ"));
        assert!(m("room/*", "room/a/b"));
    }

    #[test]
    fn question_mark_matches_exactly_one_character() {
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(!m("a?c", "abbc"));
        assert!(m("??", "éx"));
    }

    #[test]
    fn without_wildcards_it_is_equality_and_case_sensitive() {
        assert!(m("Room", "Room"));
        assert!(!m("Room", "room"));
        assert!(!m("ab", "abc"));
        assert!(!m("a*", "A"));
    }

    #[test]
    fn lowercase_compilation_makes_matching_case_insensitive() {
        let w = Wildcard::compile_lowercase("ivschat:Get*");
        assert!(w.matches("ivschat:getroom"));
        assert!(!Wildcard::compile("ivschat:Get*").matches("ivschat:getroom"));
    }
}
