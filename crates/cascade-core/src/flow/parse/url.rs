//! The URL fields of a flow: what they accept and the check behind it.

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

/// A small absolute-URL check (no URL crate in this crate): an `http`/`https` scheme (or
/// `https` only), `://`, a non-empty host, an optional numeric port, no whitespace or
/// control characters anywhere.
pub(super) fn check_url(text: &str, https_only: bool) -> Result<(), &'static str> {
    let bad = if https_only {
        "must be an absolute https URL"
    } else {
        "must be an absolute http(s) URL"
    };
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad);
    }
    let (scheme, rest) = text.split_once("://").ok_or(bad)?;
    let scheme_ok = scheme.eq_ignore_ascii_case("https")
        || (!https_only && scheme.eq_ignore_ascii_case("http"));
    if !scheme_ok {
        return Err(bad);
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host_port)| host_port);
    let (host, port) = split_port(host_port).ok_or(bad)?;
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if host.is_empty() || !port_ok {
        return Err(bad);
    }
    Ok(())
}

/// `host[:port]` or `[v6]:port` split into host and port; `None` for an unclosed `[`.
fn split_port(host_port: &str) -> Option<(&str, Option<&str>)> {
    let Some(v6) = host_port.strip_prefix('[') else {
        return Some(match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        });
    };
    let (addr, after) = v6.split_once(']')?;
    match after {
        "" => Some((addr, None)),
        _ => Some((addr, Some(after.strip_prefix(':')?))),
    }
}
