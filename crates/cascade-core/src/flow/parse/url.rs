//! The URL fields of a flow: what they accept and the check behind it.

use url::Url;

use super::Checker;
use crate::fields::{JsonObject, Presence};

/// What a URL field accepts.
#[derive(Debug, Clone, Copy)]
pub(super) struct UrlRule {
    pub(super) https_only: bool,
    pub(super) max_chars: Option<usize>,
}
pub(super) const ANY_HTTP_URL: UrlRule = UrlRule {
    https_only: false,
    max_chars: None,
};
pub(super) const HTTPS_URL: UrlRule = UrlRule {
    https_only: true,
    max_chars: None,
};

impl Checker {
    /// A [`str_field`](crate::fields::FieldReader::str_field) holding an absolute URL that
    /// `rule` accepts. Reports what [`check_url`] finds wrong, or a URL longer than `rule`
    /// allows.
    pub(super) fn url(
        &mut self,
        obj: &JsonObject<'_>,
        key: &str,
        presence: Presence,
        rule: UrlRule,
    ) -> Option<String> {
        let text = self.r.str_field(obj, key, presence)?;
        if let Err(message) = check_url(text, rule.https_only) {
            return self.r.fail(obj.at(key), message);
        }
        if let Some(max) = rule.max_chars.filter(|&max| text.chars().count() > max) {
            return self
                .r
                .fail(obj.at(key), format!("must be at most {max} characters"));
        }
        Some(text.to_owned())
    }
}

/// An absolute `http` or `https` URL (`https` only when `https_only`) as the WHATWG URL
/// parser behind HTTP clients reads it: a valid host and, if given, a port from 0 to
/// 65535. On top of what the parser requires, the URL must be written out in full: no
/// whitespace or control characters anywhere, `//` right after the scheme and the host
/// right after that, and a port after any `:` that ends the host.
///
/// # Errors
/// One message for every problem, naming the kind of URL expected.
pub(super) fn check_url(text: &str, https_only: bool) -> Result<(), &'static str> {
    let bad = if https_only {
        "must be an absolute https URL"
    } else {
        "must be an absolute http(s) URL"
    };
    // The parser drops tabs and newlines and trims spaces instead of refusing them.
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad);
    }
    // It also repairs what is not written out: `https:/host`, `https:host` and
    // `https:///host` all read as `https://host/`, `host:/` as no port at all, and a `\`
    // as a `/`. So the authority (user info, host, port) must come right after `//`, hold
    // no `\` and not end with an empty port.
    let (scheme, rest) = text.split_once("://").ok_or(bad)?;
    let scheme_ok = scheme.eq_ignore_ascii_case("https")
        || (!https_only && scheme.eq_ignore_ascii_case("http"));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if !scheme_ok || authority.is_empty() || authority.contains('\\') || authority.ends_with(':') {
        return Err(bad);
    }
    let url = Url::parse(text).map_err(|_| bad)?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_url;

    /// The parser has the last word on hosts and ports: what an HTTP client could not use
    /// is refused, other spellings of an ordinary URL pass. Several of these answers
    /// differ from the hand-written check this one replaced; `url_check` in `tests.rs`
    /// holds cases both agree on.
    #[test]
    fn what_the_parser_decides() {
        for bad in [
            "https://example.com:65536/",
            "https://999.1.1.1/",
            "https://exa|mple.com/",
            "https://exa%mple.com/",
            "https://a%00b.com/",
            "https://xn--a.com/",
            "https://[1:2:3:4:5:6:7:8:9]/",
            "https://example.com\\path",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad:?}");
        }
        for good in [
            "https://example.com:65535/",
            "https://example.com:000080/",
            "https://1.2.3/",
            "https://exa_mple.com/",
            "https://%65xample.com/",
            "https://user:@example.com/",
            "https://example.com/a\\b",
        ] {
            assert_eq!(check_url(good, true), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn what_the_parser_would_repair_is_refused() {
        for bad in [
            "https:/example.com",
            "https:example.com",
            "https:\\\\example.com",
            "https:///example.com",
            "https://\\example.com",
            "https://example.com:/",
            "https://example.com:?q",
            "https://[::1]:/",
            "https://example.com/\t",
            " https://example.com",
        ] {
            assert_eq!(
                check_url(bad, false),
                Err("must be an absolute http(s) URL"),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_url("http://example.com", true),
            Err("must be an absolute https URL")
        );
    }
}
