//! Where a redirect may send someone back to after a step (sign-in's `next`): a path of
//! this site only.

/// `value` when it is a path on this site: it starts with one `/`, holds no backslash, no
/// control or whitespace character (browsers drop tabs and line breaks from a
/// `Location`, so `/<tab>/evil.example` would leave the site) and parses as a URI path
/// with its query. Anything else is `None`.
pub fn local_path(value: &str) -> Option<&str> {
    let mut chars = value.chars();
    let fine = chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && value.len() <= 512
        && !value.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace())
        && value.parse::<axum::http::uri::PathAndQuery>().is_ok();
    fine.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_of_this_site_pass() {
        for good in ["/", "/clients", "/clients?q=ab&status=active", "/notes/1/edit#top"] {
            assert_eq!(local_path(good), Some(good), "{good}");
        }
        for bad in [
            "",
            "clients",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/ /evil.example",
            "/\u{7f}x",
            "/\u{a0}x",
            "https://evil.example/",
            "\\\\evil.example",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
        assert_eq!(local_path(&format!("/{}", "a".repeat(600))), None);
    }
}
