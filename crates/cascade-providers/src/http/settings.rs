//! `[[provider]]` sections as configured, checked into one typed value per kind.
//!
//! Every kind shares the routing and pacing fields; credentials differ. A section is read
//! loosely (every known field optional) and then parsed into its kind's settings, so a
//! missing credential, a field of another kind or an unreadable key file is reported
//! naming the section and the field, and nothing is half-configured.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use cascade_core::Channel;

/// One `[[provider]]` section as written.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub base_url: Option<String>,
    pub routes: Option<Vec<String>>,
    pub priority: Option<u32>,
    pub throughput: Option<u32>,
    pub timeout_seconds: Option<u64>,
    pub senders: Option<BTreeMap<String, String>>,
    pub category: Option<String>,
    pub application_id: Option<String>,
    pub private_key_file: Option<String>,
    pub api_key: Option<SecretString>,
    pub api_secret: Option<SecretString>,
    pub signature_secret: Option<SecretString>,
    pub webhook_token: Option<SecretString>,
    pub account_sid: Option<String>,
    pub auth_token: Option<SecretString>,
    // kind = "sip" (voice-sip §1)
    pub trunk: Option<String>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub auth_username: Option<String>,
    pub from_user: Option<String>,
    pub sip_listen: Option<String>,
    pub external_ip: Option<String>,
    pub rtp_ports: Option<String>,
    pub symmetric_rtp: Option<String>,
    pub ring_timeout_seconds: Option<u64>,
    pub max_call_seconds: Option<u64>,
    pub codecs: Option<Vec<String>>,
    pub tts_command: Option<String>,
    pub amd: Option<crate::sip::settings::AmdSection>,
}

impl std::fmt::Debug for ProviderSection {
    /// Names only: credentials are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSection")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// What every kind shares.
#[derive(Debug, Clone)]
pub struct Common {
    pub name: String,
    pub base_url: String,
    /// Destination prefixes (`+30`), `*` for any.
    pub routes: Vec<String>,
    /// Lowest first among the providers whose routes match.
    pub priority: u32,
    /// Requests per second; 0 = no cap. For the deployment: with several nodes each
    /// paces at its share ([`Common::nodes`]).
    pub throughput: u32,
    /// The live nodes the throughput cap is split between (set by the server).
    pub nodes: cascade_pace::NodeShare,
    pub timeout: Duration,
    /// Viber sender name → the provider's id for it.
    pub senders: BTreeMap<String, String>,
}

impl Common {
    /// The provider-side sender for a registered sender name.
    pub fn sender<'a>(&'a self, name: &'a str) -> &'a str {
        self.senders.get(name).map_or(name, String::as_str)
    }

    /// The registered sender name behind a provider-side sender (what a reply was sent
    /// to): the `senders` mapping read backwards, else the same text.
    pub fn registered_sender(&self, provider_side: &str) -> String {
        self.senders
            .iter()
            .find(|(_, id)| id.as_str() == provider_side)
            .map_or_else(|| provider_side.to_owned(), |(name, _)| name.clone())
    }
}

/// How Cascade proves itself to Vonage.
#[derive(Clone)]
pub enum VonageAuth {
    /// An application's id and private key: an RS256 JWT per request.
    Jwt {
        application_id: String,
        key_pem: SecretString,
    },
    /// An account's key and secret: HTTP Basic.
    Basic {
        api_key: String,
        api_secret: SecretString,
    },
}

impl std::fmt::Debug for VonageAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VonageAuth::Jwt { application_id, .. } => f
                .debug_struct("Jwt")
                .field("application_id", application_id)
                .finish_non_exhaustive(),
            VonageAuth::Basic { api_key, .. } => f
                .debug_struct("Basic")
                .field("api_key", api_key)
                .finish_non_exhaustive(),
        }
    }
}

/// A checked section.
#[derive(Debug, Clone)]
pub enum ProviderSettings {
    VonageMessages {
        common: Common,
        auth: VonageAuth,
        signature_secret: SecretString,
        /// `transaction` or `promotion`.
        category: String,
    },
    InfobipViber {
        common: Common,
        api_key: SecretString,
        webhook_token: SecretString,
    },
    TwilioVoice {
        common: Common,
        /// `AC…`: the account in the API's paths and the user of HTTP Basic.
        account_sid: String,
        /// The password of HTTP Basic and the key of `X-Twilio-Signature`.
        auth_token: SecretString,
    },
    /// Calls placed by Cascade itself over a SIP trunk (voice-sip §1).
    Sip {
        common: Common,
        sip: Box<crate::sip::settings::SipSettings>,
    },
    VonageVoice {
        common: Common,
        /// The Vonage application the calls are made by (the request token's claim).
        application_id: String,
        /// The application's private key (PEM), which signs the request tokens (RS256).
        key: SecretString,
        /// Verifies the signed event webhooks (HS256).
        signature_secret: SecretString,
    },
}

impl ProviderSettings {
    pub fn common(&self) -> &Common {
        match self {
            ProviderSettings::VonageMessages { common, .. }
            | ProviderSettings::InfobipViber { common, .. }
            | ProviderSettings::TwilioVoice { common, .. }
            | ProviderSettings::VonageVoice { common, .. }
            | ProviderSettings::Sip { common, .. } => common,
        }
    }

    pub fn channel(&self) -> Channel {
        match self {
            ProviderSettings::VonageMessages { .. } | ProviderSettings::InfobipViber { .. } => {
                Channel::Viber
            }
            ProviderSettings::TwilioVoice { .. }
            | ProviderSettings::VonageVoice { .. }
            | ProviderSettings::Sip { .. } => Channel::Voice,
        }
    }
}

/// The kinds this build knows, with their channel.
pub const KINDS: &[(&str, Channel)] = &[
    ("vonage-messages", Channel::Viber),
    ("infobip-viber", Channel::Viber),
    ("twilio-voice", Channel::Voice),
    ("vonage-voice", Channel::Voice),
    ("sip", Channel::Voice),
];

/// Which optional fields each kind takes (the shared ones are always allowed).
fn kind_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "vonage-messages" => &[
            "base_url",
            "application_id",
            "private_key_file",
            "api_key",
            "api_secret",
            "signature_secret",
            "category",
            "senders",
        ],
        "infobip-viber" => &["base_url", "api_key", "webhook_token", "senders"],
        "twilio-voice" => &["base_url", "account_sid", "auth_token"],
        "vonage-voice" => &[
            "base_url",
            "application_id",
            "private_key_file",
            "signature_secret",
        ],
        "sip" => crate::sip::settings::FIELDS,
        _ => &[],
    }
}

/// A problem with one section, naming it and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[[provider]] {section}: {field}: {problem}")]
pub struct SectionError {
    /// The section's name, or its position (`#2`) when it has none.
    pub section: String,
    pub field: String,
    pub problem: String,
}

impl ProviderSection {
    fn present(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut mark = |set: bool, name: &'static str| {
            if set {
                out.push(name);
            }
        };
        mark(self.senders.is_some(), "senders");
        mark(self.category.is_some(), "category");
        mark(self.application_id.is_some(), "application_id");
        mark(self.private_key_file.is_some(), "private_key_file");
        mark(self.api_key.is_some(), "api_key");
        mark(self.api_secret.is_some(), "api_secret");
        mark(self.signature_secret.is_some(), "signature_secret");
        mark(self.webhook_token.is_some(), "webhook_token");
        mark(self.account_sid.is_some(), "account_sid");
        mark(self.auth_token.is_some(), "auth_token");
        mark(self.base_url.is_some(), "base_url");
        mark(self.trunk.is_some(), "trunk");
        mark(self.username.is_some(), "username");
        mark(self.password.is_some(), "password");
        mark(self.auth_username.is_some(), "auth_username");
        mark(self.from_user.is_some(), "from_user");
        mark(self.sip_listen.is_some(), "sip_listen");
        mark(self.external_ip.is_some(), "external_ip");
        mark(self.rtp_ports.is_some(), "rtp_ports");
        mark(self.symmetric_rtp.is_some(), "symmetric_rtp");
        mark(self.ring_timeout_seconds.is_some(), "ring_timeout_seconds");
        mark(self.max_call_seconds.is_some(), "max_call_seconds");
        mark(self.codecs.is_some(), "codecs");
        mark(self.tts_command.is_some(), "tts_command");
        mark(self.amd.is_some(), "amd");
        out
    }

    /// Check the section (its position among the sections is `index`, from 1) and read
    /// the files it names.
    ///
    /// # Errors
    /// The first problem found, naming the section and the field.
    pub fn parse(&self, index: usize) -> Result<ProviderSettings, SectionError> {
        let label = self
            .name
            .clone()
            .unwrap_or_else(|| format!("#{index} (no name)"));
        let err = |field: &str, problem: String| SectionError {
            section: label.clone(),
            field: field.to_owned(),
            problem,
        };
        let name = self
            .name
            .clone()
            .ok_or_else(|| err("name", "missing".into()))?;
        if name.is_empty()
            || name.len() > 40
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(err(
                "name",
                format!("{name:?} must be 1–40 of a-z, 0-9 and -"),
            ));
        }
        let kind = self
            .kind
            .clone()
            .ok_or_else(|| err("kind", "missing".into()))?;
        if !KINDS.iter().any(|(k, _)| *k == kind) {
            let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
            return Err(err(
                "kind",
                format!("{kind:?} is not one of {}", known.join(", ")),
            ));
        }
        let allowed = kind_fields(&kind);
        if let Some(other) = self.present().into_iter().find(|f| !allowed.contains(f)) {
            return Err(err(other, format!("is not a setting of kind {kind}")));
        }
        let default_base = match kind.as_str() {
            "vonage-messages" | "vonage-voice" => "https://api.nexmo.com",
            "twilio-voice" => "https://api.twilio.com",
            _ => "",
        };
        let base_url = match (&self.base_url, default_base) {
            // A SIP trunk is not an HTTP API: its address is `trunk`.
            _ if kind == "sip" => crate::sip::settings::trunk_text(self),
            (Some(u), _) => u.trim_end_matches('/').to_owned(),
            (None, "") => {
                return Err(err(
                    "base_url",
                    "missing (Infobip gives each account its own, e.g. https://xxxxx.api.infobip.com)"
                        .into(),
                ));
            }
            (None, d) => d.to_owned(),
        };
        match url::Url::parse(&base_url) {
            _ if kind == "sip" => {}
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(err(
                    "base_url",
                    format!("{base_url:?} is not an http(s) URL"),
                ));
            }
        }
        let routes = self.routes.clone().unwrap_or_else(|| vec!["*".into()]);
        if routes.is_empty() {
            return Err(err(
                "routes",
                "empty: give at least one prefix or \"*\"".into(),
            ));
        }
        for r in &routes {
            let prefix_ok = r
                .strip_prefix('+')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            // A SIP provider also takes calls to SIP addresses (`to.sip`): route "sip:".
            let sip_ok = kind == "sip" && r == "sip:";
            if r != "*" && !prefix_ok && !sip_ok {
                return Err(err(
                    "routes",
                    format!("{r:?} is not a number prefix like \"+30\" or \"*\""),
                ));
            }
        }
        // A trunk that sends no response at all in a few seconds is down (Timer A has
        // retransmitted the INVITE three times by 3.5 s): another provider takes the call.
        let default_timeout = if kind == "sip" { 4 } else { 10 };
        let timeout_seconds = self.timeout_seconds.unwrap_or(default_timeout);
        if timeout_seconds == 0 || timeout_seconds > 300 {
            return Err(err("timeout_seconds", "must be 1–300".into()));
        }
        let common = Common {
            name,
            base_url,
            routes,
            priority: self.priority.unwrap_or(1),
            throughput: self.throughput.unwrap_or(0),
            nodes: cascade_pace::NodeShare::default(),
            timeout: Duration::from_secs(timeout_seconds),
            senders: self.senders.clone().unwrap_or_default(),
        };
        // A secret that is set but empty (an unset variable in a template, say) would let
        // anyone sign a webhook: refused like a missing one.
        let need_secret = |v: &Option<SecretString>, field: &str| match v {
            None => Err(err(field, "missing".into())),
            Some(secret)
                if secrecy::ExposeSecret::expose_secret(secret)
                    .trim()
                    .is_empty() =>
            {
                Err(err(field, "empty".into()))
            }
            Some(secret) => Ok(secret.clone()),
        };
        match kind.as_str() {
            "vonage-messages" => {
                let auth = match (
                    &self.application_id,
                    &self.private_key_file,
                    &self.api_key,
                    &self.api_secret,
                ) {
                    (Some(app), Some(file), None, None) => VonageAuth::Jwt {
                        application_id: app.clone(),
                        key_pem: read_rsa_key(file).map_err(|p| err("private_key_file", p))?,
                    },
                    (None, None, Some(_), Some(_)) => VonageAuth::Basic {
                        api_key: secrecy::ExposeSecret::expose_secret(&need_secret(
                            &self.api_key,
                            "api_key",
                        )?)
                        .to_owned(),
                        api_secret: need_secret(&self.api_secret, "api_secret")?,
                    },
                    (Some(_), None, _, _) => {
                        return Err(err(
                            "private_key_file",
                            "missing (with application_id)".into(),
                        ));
                    }
                    (None, Some(_), _, _) => {
                        return Err(err(
                            "application_id",
                            "missing (with private_key_file)".into(),
                        ));
                    }
                    (None, None, Some(_), None) => {
                        return Err(err("api_secret", "missing (with api_key)".into()));
                    }
                    (None, None, None, Some(_)) => {
                        return Err(err("api_key", "missing (with api_secret)".into()));
                    }
                    (None, None, None, None) => {
                        return Err(err(
                            "application_id",
                            "missing: give application_id + private_key_file (JWT) or api_key + api_secret (Basic)".into(),
                        ));
                    }
                    _ => {
                        return Err(err(
                            "api_key",
                            "give either application_id + private_key_file or api_key + api_secret, not both".into(),
                        ));
                    }
                };
                let category = self
                    .category
                    .clone()
                    .unwrap_or_else(|| "transaction".into());
                if category != "transaction" && category != "promotion" {
                    return Err(err(
                        "category",
                        format!("{category:?} is not \"transaction\" or \"promotion\""),
                    ));
                }
                Ok(ProviderSettings::VonageMessages {
                    common,
                    auth,
                    signature_secret: need_secret(&self.signature_secret, "signature_secret")?,
                    category,
                })
            }
            "infobip-viber" => {
                let webhook_token = need_secret(&self.webhook_token, "webhook_token")?;
                let token = secrecy::ExposeSecret::expose_secret(&webhook_token);
                if token.len() < 16
                    || !token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(err(
                        "webhook_token",
                        "must be at least 16 of A-Z a-z 0-9 - _ (it is a path segment)".into(),
                    ));
                }
                Ok(ProviderSettings::InfobipViber {
                    common,
                    api_key: need_secret(&self.api_key, "api_key")?,
                    webhook_token,
                })
            }
            "twilio-voice" => {
                let account_sid = self
                    .account_sid
                    .clone()
                    .ok_or_else(|| err("account_sid", "missing".into()))?;
                // AC + 32 hex digits; it goes into the API's paths, so nothing else passes.
                let sid_ok = account_sid.len() == 34
                    && account_sid.starts_with("AC")
                    && account_sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
                if !sid_ok {
                    return Err(err(
                        "account_sid",
                        format!(
                            "{account_sid:?} is not an account SID (AC followed by 32 hex digits)"
                        ),
                    ));
                }
                let auth_token = need_secret(&self.auth_token, "auth_token")?;
                if secrecy::ExposeSecret::expose_secret(&auth_token).is_empty() {
                    return Err(err("auth_token", "empty".into()));
                }
                Ok(ProviderSettings::TwilioVoice {
                    common,
                    account_sid,
                    auth_token,
                })
            }
            "vonage-voice" => {
                // Vonage Voice takes only an application's JWT (reference §4.1).
                let application_id = match &self.application_id {
                    Some(app) if !app.trim().is_empty() => app.clone(),
                    Some(_) => return Err(err("application_id", "empty".into())),
                    None => return Err(err("application_id", "missing".into())),
                };
                let file = self
                    .private_key_file
                    .as_deref()
                    .ok_or_else(|| err("private_key_file", "missing".into()))?;
                let key = read_rsa_key(file).map_err(|p| err("private_key_file", p))?;
                let signature_secret = need_secret(&self.signature_secret, "signature_secret")?;
                if secrecy::ExposeSecret::expose_secret(&signature_secret).is_empty() {
                    return Err(err("signature_secret", "empty".into()));
                }
                Ok(ProviderSettings::VonageVoice {
                    common,
                    application_id,
                    key,
                    signature_secret,
                })
            }
            "sip" => Ok(ProviderSettings::Sip {
                sip: Box::new(crate::sip::settings::SipSettings::parse(self, &err)?),
                common,
            }),
            other => Err(err(
                "kind",
                format!("{other} is not available in this build"),
            )),
        }
    }
}

/// Read an RSA private key in PEM and check it parses.
fn read_rsa_key(path: &str) -> Result<SecretString, String> {
    let pem = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| format!("{path} is not an RSA private key in PEM: {e}"))?;
    Ok(SecretString::from(pem))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml_text: &str) -> ProviderSection {
        toml::from_str(toml_text).expect("the section parses as TOML")
    }

    fn problem(toml_text: &str) -> SectionError {
        section(toml_text)
            .parse(1)
            .expect_err("the section is refused")
    }

    #[test]
    fn a_basic_vonage_section_is_read_with_defaults() {
        let s = section(
            r#"name = "vv"
kind = "vonage-messages"
api_key = "k"
api_secret = "s"
signature_secret = "sig""#,
        )
        .parse(1)
        .expect("valid");
        let common = s.common();
        assert_eq!(common.base_url, "https://api.nexmo.com");
        assert_eq!(common.routes, vec!["*".to_owned()]);
        assert_eq!((common.priority, common.throughput), (1, 0));
        assert_eq!(s.channel(), Channel::Viber);
        assert!(matches!(
            s,
            ProviderSettings::VonageMessages { auth: VonageAuth::Basic { .. }, ref category, .. } if category == "transaction"
        ));
    }

    #[test]
    fn each_kind_of_bad_section_names_the_section_and_the_field() {
        let cases = [
            (r#"kind = "infobip-viber""#, "#1 (no name)", "name"),
            (
                r#"name = "Bad Name"
kind = "infobip-viber""#,
                "Bad Name",
                "name",
            ),
            (r#"name = "x""#, "x", "kind"),
            (
                r#"name = "x"
kind = "smoke-signals""#,
                "x",
                "kind",
            ),
            (
                r#"name = "x"
kind = "infobip-viber"
api_key = "k"
webhook_token = "0123456789abcdef""#,
                "x",
                "base_url",
            ),
            (
                r#"name = "x"
kind = "infobip-viber"
base_url = "ftp://example.com"
api_key = "k"
webhook_token = "0123456789abcdef""#,
                "x",
                "base_url",
            ),
            (
                r#"name = "x"
kind = "infobip-viber"
base_url = "https://e.api.infobip.com"
webhook_token = "0123456789abcdef""#,
                "x",
                "api_key",
            ),
            (
                r#"name = "x"
kind = "infobip-viber"
base_url = "https://e.api.infobip.com"
api_key = "k"
webhook_token = "short""#,
                "x",
                "webhook_token",
            ),
            (
                r#"name = "x"
kind = "infobip-viber"
base_url = "https://e.api.infobip.com"
api_key = "k"
account_sid = "AC1"
webhook_token = "0123456789abcdef""#,
                "x",
                "account_sid",
            ),
            (
                r#"name = "x"
kind = "vonage-messages"
signature_secret = "s""#,
                "x",
                "application_id",
            ),
            (
                r#"name = "x"
kind = "vonage-messages"
api_key = "k"
signature_secret = "s""#,
                "x",
                "api_secret",
            ),
            (
                r#"name = "x"
kind = "vonage-messages"
application_id = "app"
private_key_file = "/nonexistent/key.pem"
signature_secret = "s""#,
                "x",
                "private_key_file",
            ),
            (
                r#"name = "x"
kind = "vonage-messages"
api_key = "k"
api_secret = "s""#,
                "x",
                "signature_secret",
            ),
            (
                r#"name = "x"
kind = "vonage-messages"
api_key = "k"
api_secret = "s"
signature_secret = "s"
category = "spam""#,
                "x",
                "category",
            ),
            (
                r#"name = "x"
kind = "vonage-messages"
api_key = "k"
api_secret = "s"
signature_secret = "s"
routes = ["30"]"#,
                "x",
                "routes",
            ),
            (
                r#"name = "x"
kind = "vonage-messages"
api_key = "k"
api_secret = "s"
signature_secret = "s"
routes = ["+3x"]"#,
                "x",
                "routes",
            ),
            (
                r#"name = "x"
kind = "vonage-messages"
api_key = "k"
api_secret = "s"
signature_secret = "s"
timeout_seconds = 0"#,
                "x",
                "timeout_seconds",
            ),
            (
                r#"name = "tw"
kind = "twilio-voice"
auth_token = "t""#,
                "tw",
                "account_sid",
            ),
            (
                r#"name = "tw"
kind = "twilio-voice"
account_sid = "AC123"
auth_token = "t""#,
                "tw",
                "account_sid",
            ),
            (
                r#"name = "tw"
kind = "twilio-voice"
account_sid = "ACzz000000000000000000000000000000"
auth_token = "t""#,
                "tw",
                "account_sid",
            ),
            (
                r#"name = "tw"
kind = "twilio-voice"
account_sid = "AC0123456789abcdef0123456789abcdef""#,
                "tw",
                "auth_token",
            ),
            (
                r#"name = "tw"
kind = "twilio-voice"
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = ''"#,
                "tw",
                "auth_token",
            ),
            (
                r#"name = "tw"
kind = "twilio-voice"
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "t"
base_url = "api.twilio.com""#,
                "tw",
                "base_url",
            ),
            (
                r#"name = "tw"
kind = "twilio-voice"
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "t"
api_key = "k""#,
                "tw",
                "api_key",
            ),
        ];
        for (text, section_name, field) in cases {
            let e = problem(text);
            assert_eq!(e.section, section_name, "{text}: {e}");
            assert_eq!(e.field, field, "{text}: {e}");
            assert!(e.to_string().starts_with("[[provider]] "), "{e}");
        }
    }

    #[test]
    fn a_twilio_section_is_read_with_its_default_base_url() {
        let s = section(
            r#"name = "twilio"
kind = "twilio-voice"
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "token""#,
        )
        .parse(1)
        .expect("valid");
        assert_eq!(s.common().base_url, "https://api.twilio.com");
        assert_eq!(s.channel(), Channel::Voice);
        match s {
            ProviderSettings::TwilioVoice {
                account_sid,
                auth_token,
                ..
            } => {
                assert_eq!(account_sid, "AC0123456789abcdef0123456789abcdef");
                assert_eq!(secrecy::ExposeSecret::expose_secret(&auth_token), "token");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A Vonage Voice section around the test key pair's private half, with `fields`.
    fn vonage_voice(fields: &str) -> String {
        format!("name = \"vvoice\"\nkind = \"vonage-voice\"\n{fields}")
    }

    fn test_key() -> String {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../cascade/tests/fixtures/vonage-test-private.pem"
        )
        .to_owned()
    }

    #[test]
    fn a_vonage_voice_section_is_read_with_its_default_base_url() {
        let s = section(&vonage_voice(&format!(
            "application_id = \"app-1\"\nprivate_key_file = {:?}\nsignature_secret = \"sig\"",
            test_key()
        )))
        .parse(1)
        .expect("valid");
        assert_eq!(s.common().base_url, "https://api.nexmo.com");
        assert_eq!(s.channel(), Channel::Voice);
        match s {
            ProviderSettings::VonageVoice {
                application_id,
                key,
                signature_secret,
                ..
            } => {
                assert_eq!(application_id, "app-1");
                assert!(
                    secrecy::ExposeSecret::expose_secret(&key).contains("PRIVATE KEY"),
                    "the key's PEM"
                );
                assert_eq!(
                    secrecy::ExposeSecret::expose_secret(&signature_secret),
                    "sig"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_missing_or_bad_vonage_voice_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_key = dir.path().join("key.pem");
        std::fs::write(&not_a_key, "not a key").unwrap();
        let key = test_key();
        let not_a_key = not_a_key.display().to_string();
        let cases = [
            (
                format!("private_key_file = {key:?}\nsignature_secret = \"s\""),
                "application_id",
                "missing",
            ),
            (
                format!("application_id = \"\"\nprivate_key_file = {key:?}\nsignature_secret = \"s\""),
                "application_id",
                "empty",
            ),
            (
                "application_id = \"app\"\nsignature_secret = \"s\"".to_owned(),
                "private_key_file",
                "missing",
            ),
            (
                "application_id = \"app\"\nprivate_key_file = \"/nonexistent/key.pem\"\nsignature_secret = \"s\"".to_owned(),
                "private_key_file",
                "cannot read",
            ),
            (
                format!("application_id = \"app\"\nprivate_key_file = {not_a_key:?}\nsignature_secret = \"s\""),
                "private_key_file",
                "not an RSA private key",
            ),
            (
                format!("application_id = \"app\"\nprivate_key_file = {key:?}"),
                "signature_secret",
                "missing",
            ),
            (
                format!("application_id = \"app\"\nprivate_key_file = {key:?}\nsignature_secret = \"\""),
                "signature_secret",
                "empty",
            ),
            (
                format!("application_id = \"app\"\nprivate_key_file = {key:?}\nsignature_secret = \"s\"\napi_key = \"k\""),
                "api_key",
                "not a setting of kind vonage-voice",
            ),
            (
                format!("application_id = \"app\"\nprivate_key_file = {key:?}\nsignature_secret = \"s\"\ncategory = \"promotion\""),
                "category",
                "not a setting of kind vonage-voice",
            ),
            (
                format!("application_id = \"app\"\nprivate_key_file = {key:?}\nsignature_secret = \"s\"\nbase_url = \"api.nexmo.com\""),
                "base_url",
                "not an http(s) URL",
            ),
        ];
        for (fields, field, problem_text) in cases {
            let e = problem(&vonage_voice(&fields));
            assert_eq!(e.section, "vvoice", "{fields}: {e}");
            assert_eq!(e.field, field, "{fields}: {e}");
            assert!(e.problem.contains(problem_text), "{fields}: {e}");
            assert!(e.to_string().starts_with("[[provider]] vvoice: "), "{e}");
        }
    }

    #[test]
    fn an_unknown_field_is_refused_by_the_reader() {
        let e = toml::from_str::<ProviderSection>(
            "name = \"x\"\nkind = \"infobip-viber\"\napi_kye = \"k\"",
        )
        .expect_err("unknown field");
        assert!(e.to_string().contains("api_kye"), "{e}");
    }

    #[test]
    fn a_vonage_key_file_that_is_not_a_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "not a key").unwrap();
        let text = format!(
            "name = \"x\"\nkind = \"vonage-messages\"\napplication_id = \"app\"\nprivate_key_file = {:?}\nsignature_secret = \"s\"",
            path.display().to_string()
        );
        let e = problem(&text);
        assert_eq!(e.field, "private_key_file");
        assert!(e.problem.contains("not an RSA private key"), "{e}");
    }

    #[test]
    fn senders_map_registered_names() {
        let s = section(
            r#"name = "ib"
kind = "infobip-viber"
base_url = "https://e.api.infobip.com"
api_key = "k"
webhook_token = "0123456789abcdef"
senders = { "MyBrand" = "brand-77" }"#,
        )
        .parse(1)
        .unwrap();
        assert_eq!(s.common().sender("MyBrand"), "brand-77");
        assert_eq!(s.common().sender("Other"), "Other");
    }

    #[test]
    fn empty_secrets_are_refused_like_missing_ones() {
        for (text, field) in [
            (
                "api_key = \"k\"\napi_secret = \"s\"\nsignature_secret = \" \"",
                "signature_secret",
            ),
            (
                "api_key = \"\"\napi_secret = \"s\"\nsignature_secret = \"sig\"",
                "api_key",
            ),
            (
                "api_key = \"k\"\napi_secret = \"\"\nsignature_secret = \"sig\"",
                "api_secret",
            ),
        ] {
            let e = problem(&format!("name = \"x\"\nkind = \"vonage-messages\"\n{text}"));
            assert_eq!(
                (e.field.as_str(), e.problem.as_str()),
                (field, "empty"),
                "{text}"
            );
        }
    }
}
