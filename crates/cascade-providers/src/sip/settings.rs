//! The settings of a `kind = "sip"` provider section (voice-sip §1), checked field by
//! field: a trunk that is not a SIP address, a port range upside down or an unknown
//! codec is refused at start-up naming the field, never discovered on the first call.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use cascade_media::amd::AmdSettings;
use cascade_media::g711::Codec;
use cascade_media::remote::Learning;
use secrecy::SecretString;
use serde::Deserialize;

use crate::http::settings::{ProviderSection, SectionError};

/// The fields a `sip` section takes besides the shared ones.
pub const FIELDS: &[&str] = &[
    "trunk",
    "username",
    "password",
    "auth_username",
    "from_user",
    "sip_listen",
    "external_ip",
    "rtp_ports",
    "symmetric_rtp",
    "ring_timeout_seconds",
    "max_call_seconds",
    "codecs",
    "tts_command",
    "amd",
];

/// `[provider.amd]`: the Asterisk AMD() parameters, each optional (the defaults are
/// Asterisk's).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmdSection {
    pub initial_silence: Option<u32>,
    pub greeting: Option<u32>,
    pub after_greeting_silence: Option<u32>,
    pub total_analysis_time: Option<u32>,
    pub minimum_word_length: Option<u32>,
    pub between_words_silence: Option<u32>,
    pub maximum_number_of_words: Option<u32>,
    pub silence_threshold: Option<u32>,
    pub maximum_word_length: Option<u32>,
}

/// How SIP messages travel to the trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipTransport {
    Udp,
    Tcp,
}

impl SipTransport {
    pub fn name(self) -> &'static str {
        match self {
            SipTransport::Udp => "udp",
            SipTransport::Tcp => "tcp",
        }
    }
}

/// The trunk: where calls to phone numbers go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    pub host: String,
    pub port: u16,
    pub transport: SipTransport,
}

/// A checked `sip` section.
#[derive(Debug, Clone)]
pub struct SipSettings {
    pub trunk: Trunk,
    /// Digest credentials, when the trunk challenges.
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub auth_username: Option<String>,
    /// The From user; `None`: the step's `from`.
    pub from_user: Option<String>,
    pub sip_listen: SocketAddr,
    pub external_ip: Option<IpAddr>,
    pub rtp_ports: RangeInclusive<u16>,
    /// When a call's RTP may follow where the callee's comes from.
    pub symmetric_rtp: Learning,
    pub ring_timeout: Duration,
    pub max_call: Duration,
    pub codecs: Vec<Codec>,
    pub tts_command: String,
    pub amd: AmdSettings,
}

/// The default TTS command: espeak-ng writing a WAV to stdout.
pub const DEFAULT_TTS: &str = cascade_media::playback::DEFAULT_TTS_COMMAND;

/// The `trunk` field as written (the section's address in listings).
pub fn trunk_text(section: &ProviderSection) -> String {
    section.trunk.clone().unwrap_or_default()
}

/// Read `sip:host[:port][;transport=udp|tcp]`.
///
/// # Errors
/// What is wrong with it.
pub fn parse_trunk(text: &str) -> Result<Trunk, String> {
    let shape =
        || format!("{text:?} is not a SIP address like \"sip:sip.example.net:5060;transport=udp\"");
    let rest = text.trim().strip_prefix("sip:").ok_or_else(shape)?;
    let (address, params) = match rest.split_once(';') {
        Some((a, p)) => (a, Some(p)),
        None => (rest, None),
    };
    if address.contains('@') {
        return Err(format!(
            "{text:?}: give the trunk's host, not a user (calls go to sip:+E164@trunk)"
        ));
    }
    let (host, port) = match address.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{text:?}: the port must be a number from 1 to 65535"))?,
        ),
        None => (address, 5060),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !host_ok {
        return Err(shape());
    }
    let mut transport = SipTransport::Udp;
    for param in params.into_iter().flat_map(|p| p.split(';')) {
        match param.split_once('=') {
            Some((k, v)) if k.eq_ignore_ascii_case("transport") => {
                transport = match v.to_ascii_lowercase().as_str() {
                    "udp" => SipTransport::Udp,
                    "tcp" => SipTransport::Tcp,
                    other => {
                        return Err(format!("{text:?}: transport {other:?} is not udp or tcp"));
                    }
                };
            }
            _ if param.eq_ignore_ascii_case("lr") => {}
            _ => return Err(format!("{text:?}: unknown parameter {param:?}")),
        }
    }
    Ok(Trunk {
        host: host.to_owned(),
        port,
        transport,
    })
}

fn parse_ports(text: &str) -> Result<RangeInclusive<u16>, String> {
    let bad = || format!("{text:?} is not a port range like \"20000-20999\"");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let a: u16 = a.trim().parse().map_err(|_| bad())?;
    let b: u16 = b.trim().parse().map_err(|_| bad())?;
    if a == 0 || b < a {
        return Err(bad());
    }
    if b - a < 1 {
        return Err(format!(
            "{text:?} holds one port: give at least two (RTP ports go in pairs)"
        ));
    }
    Ok(a..=b)
}

impl SipSettings {
    /// Check the `sip` fields of `section`; `err` names the section.
    ///
    /// # Errors
    /// The first problem, naming its field.
    pub fn parse(
        section: &ProviderSection,
        err: &dyn Fn(&str, String) -> SectionError,
    ) -> Result<SipSettings, SectionError> {
        let trunk = match &section.trunk {
            None => return Err(err("trunk", "missing".into())),
            Some(t) => parse_trunk(t).map_err(|p| err("trunk", p))?,
        };
        let non_empty = |v: &Option<String>, field: &str| match v {
            Some(s) if s.trim().is_empty() => Err(err(field, "empty".into())),
            Some(s) if s.contains(|c: char| c.is_whitespace() || c == '"') => {
                Err(err(field, "must not hold spaces or quotes".into()))
            }
            other => Ok(other.clone()),
        };
        let username = non_empty(&section.username, "username")?;
        let auth_username = non_empty(&section.auth_username, "auth_username")?;
        let from_user = non_empty(&section.from_user, "from_user")?;
        let password = section.password.clone();
        match (&username, &password) {
            (Some(_), None) => return Err(err("password", "missing (with username)".into())),
            (None, Some(_)) => return Err(err("username", "missing (with password)".into())),
            (None, None) if auth_username.is_some() => {
                return Err(err(
                    "auth_username",
                    "given without username and password".into(),
                ));
            }
            (Some(_), Some(p)) if secrecy::ExposeSecret::expose_secret(p).is_empty() => {
                return Err(err("password", "empty".into()));
            }
            _ => {}
        }
        let sip_listen = match &section.sip_listen {
            None => SocketAddr::from(([0, 0, 0, 0], 5060)),
            Some(text) => text.parse().map_err(|_| {
                err(
                    "sip_listen",
                    format!("{text:?} is not an address like \"0.0.0.0:5060\""),
                )
            })?,
        };
        let external_ip = match section.external_ip.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                text.parse()
                    .map_err(|_| err("external_ip", format!("{text:?} is not an IP address")))?,
            ),
        };
        let rtp_ports = parse_ports(section.rtp_ports.as_deref().unwrap_or("20000-20999"))
            .map_err(|p| err("rtp_ports", p))?;
        let symmetric_rtp = match section.symmetric_rtp.as_deref() {
            None | Some("private") => Learning::Private,
            Some("always") => Learning::Always,
            Some(other) => {
                return Err(err(
                    "symmetric_rtp",
                    format!("{other:?} is not \"private\" or \"always\""),
                ));
            }
        };
        let ring = section.ring_timeout_seconds.unwrap_or(30);
        if !(1..=300).contains(&ring) {
            return Err(err("ring_timeout_seconds", "must be 1–300".into()));
        }
        let max_call = section.max_call_seconds.unwrap_or(600);
        if !(1..=14_400).contains(&max_call) {
            return Err(err("max_call_seconds", "must be 1–14400".into()));
        }
        let codec_names = section
            .codecs
            .clone()
            .unwrap_or_else(|| vec!["PCMU".into(), "PCMA".into()]);
        if codec_names.is_empty() {
            return Err(err("codecs", "empty: give PCMU, PCMA or both".into()));
        }
        let mut codecs = Vec::new();
        for name in &codec_names {
            let codec = match name.to_ascii_uppercase().as_str() {
                "PCMU" => Codec::Pcmu,
                "PCMA" => Codec::Pcma,
                _ => {
                    return Err(err("codecs", format!("{name:?} is not PCMU or PCMA")));
                }
            };
            if codecs.contains(&codec) {
                return Err(err("codecs", format!("{name:?} is listed twice")));
            }
            codecs.push(codec);
        }
        let tts_command = section
            .tts_command
            .clone()
            .unwrap_or_else(|| DEFAULT_TTS.to_owned());
        cascade_media::playback::command_args(&tts_command, "v", "f")
            .map_err(|p| err("tts_command", p))?;
        let amd = amd_settings(section.amd.as_ref().cloned().unwrap_or_default())
            .map_err(|(field, p)| err(&format!("amd.{field}"), p))?;
        Ok(SipSettings {
            trunk,
            username,
            password,
            auth_username,
            from_user,
            sip_listen,
            external_ip,
            rtp_ports,
            symmetric_rtp,
            ring_timeout: Duration::from_secs(ring),
            max_call: Duration::from_secs(max_call),
            codecs,
            tts_command,
            amd,
        })
    }
}

fn amd_settings(section: AmdSection) -> Result<AmdSettings, (&'static str, String)> {
    let d = AmdSettings::default();
    let ms = |v: Option<u32>, default: u32, field: &'static str| match v {
        None => Ok(default),
        Some(v) if (1..=60_000).contains(&v) => Ok(v),
        Some(_) => Err((field, "must be 1–60000 (milliseconds)".to_owned())),
    };
    let amd = AmdSettings {
        initial_silence: ms(
            section.initial_silence,
            d.initial_silence,
            "initial_silence",
        )?,
        greeting: ms(section.greeting, d.greeting, "greeting")?,
        after_greeting_silence: ms(
            section.after_greeting_silence,
            d.after_greeting_silence,
            "after_greeting_silence",
        )?,
        total_analysis_time: ms(
            section.total_analysis_time,
            d.total_analysis_time,
            "total_analysis_time",
        )?,
        minimum_word_length: ms(
            section.minimum_word_length,
            d.minimum_word_length,
            "minimum_word_length",
        )?,
        between_words_silence: ms(
            section.between_words_silence,
            d.between_words_silence,
            "between_words_silence",
        )?,
        maximum_number_of_words: match section.maximum_number_of_words {
            None => d.maximum_number_of_words,
            Some(n) if (1..=100).contains(&n) => n,
            Some(_) => return Err(("maximum_number_of_words", "must be 1–100".to_owned())),
        },
        silence_threshold: match section.silence_threshold {
            None => d.silence_threshold,
            Some(n) if (1..=32_767).contains(&n) => n,
            Some(_) => return Err(("silence_threshold", "must be 1–32767".to_owned())),
        },
        maximum_word_length: ms(
            section.maximum_word_length,
            d.maximum_word_length,
            "maximum_word_length",
        )?,
    };
    Ok(amd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::settings::ProviderSettings;

    fn parse(fields: &str) -> Result<ProviderSettings, SectionError> {
        let text = format!("name = \"trunk\"\nkind = \"sip\"\n{fields}");
        let section: ProviderSection = toml::from_str(&text).expect("readable section");
        section.parse(1)
    }

    fn sip(fields: &str) -> SipSettings {
        match parse(fields).expect("valid") {
            ProviderSettings::Sip { sip, .. } => *sip,
            other => panic!("not sip: {other:?}"),
        }
    }

    #[test]
    fn a_minimal_section_takes_the_spec_defaults() {
        let s = sip("trunk = \"sip:sip.example.net\"");
        assert_eq!(
            s.trunk,
            Trunk {
                host: "sip.example.net".into(),
                port: 5060,
                transport: SipTransport::Udp
            }
        );
        assert_eq!(s.sip_listen, "0.0.0.0:5060".parse().unwrap());
        assert_eq!(s.rtp_ports, 20000..=20999);
        assert_eq!(s.symmetric_rtp, Learning::Private);
        assert_eq!(s.ring_timeout, Duration::from_secs(30));
        assert_eq!(s.max_call, Duration::from_secs(600));
        assert_eq!(s.codecs, vec![Codec::Pcmu, Codec::Pcma]);
        assert_eq!(s.tts_command, DEFAULT_TTS);
        assert_eq!(s.amd, AmdSettings::default());
        assert!(s.username.is_none() && s.password.is_none());
    }

    #[test]
    fn a_full_section_is_read() {
        let s = sip(r#"
trunk = "sip:10.0.0.1:5080;transport=tcp"
username = "cascade"
password = "secret"
auth_username = "acct-1"
from_user = "+302100000000"
sip_listen = "127.0.0.1:0"
external_ip = "203.0.113.7"
rtp_ports = "30000-30099"
symmetric_rtp = "always"
ring_timeout_seconds = 5
max_call_seconds = 60
codecs = ["PCMA"]
tts_command = "piper --voice {voice} --text-file {text_file}"
routes = ["+30", "sip:"]
[amd]
initial_silence = 2000
maximum_number_of_words = 4
"#);
        assert_eq!(s.trunk.transport, SipTransport::Tcp);
        assert_eq!(s.trunk.port, 5080);
        assert_eq!(s.auth_username.as_deref(), Some("acct-1"));
        assert_eq!(s.external_ip, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(s.codecs, vec![Codec::Pcma]);
        assert_eq!(s.symmetric_rtp, Learning::Always);
        assert_eq!(s.amd.initial_silence, 2000);
        assert_eq!(s.amd.maximum_number_of_words, 4);
        assert_eq!(s.amd.greeting, 1500);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("", "trunk", "missing"),
            ("trunk = \"sip.example.net\"", "trunk", "not a SIP address"),
            ("trunk = \"sip:bob@sip.example.net\"", "trunk", "not a user"),
            ("trunk = \"sip:h:0\"", "trunk", "port"),
            ("trunk = \"sip:h;transport=tls\"", "trunk", "not udp or tcp"),
            ("trunk = \"sip:h\"\nusername = \"u\"", "password", "missing"),
            ("trunk = \"sip:h\"\npassword = \"p\"", "username", "missing"),
            (
                "trunk = \"sip:h\"\nusername = \"u\"\npassword = \"\"",
                "password",
                "empty",
            ),
            (
                "trunk = \"sip:h\"\nauth_username = \"a\"",
                "auth_username",
                "without",
            ),
            (
                "trunk = \"sip:h\"\nsip_listen = \"nowhere\"",
                "sip_listen",
                "not an address",
            ),
            (
                "trunk = \"sip:h\"\nexternal_ip = \"1.2.3\"",
                "external_ip",
                "not an IP",
            ),
            (
                "trunk = \"sip:h\"\nrtp_ports = \"2000-1000\"",
                "rtp_ports",
                "port range",
            ),
            (
                "trunk = \"sip:h\"\nrtp_ports = \"2000-2000\"",
                "rtp_ports",
                "one port",
            ),
            (
                "trunk = \"sip:h\"\nsymmetric_rtp = \"sometimes\"",
                "symmetric_rtp",
                "not \"private\" or \"always\"",
            ),
            (
                "trunk = \"sip:h\"\nsymmetric_rtp = \"\"",
                "symmetric_rtp",
                "not \"private\" or \"always\"",
            ),
            (
                "trunk = \"sip:h\"\nring_timeout_seconds = 0",
                "ring_timeout_seconds",
                "1–300",
            ),
            (
                "trunk = \"sip:h\"\nmax_call_seconds = 0",
                "max_call_seconds",
                "1–14400",
            ),
            ("trunk = \"sip:h\"\ncodecs = []", "codecs", "empty"),
            (
                "trunk = \"sip:h\"\ncodecs = [\"G729\"]",
                "codecs",
                "not PCMU",
            ),
            (
                "trunk = \"sip:h\"\ncodecs = [\"PCMU\", \"pcmu\"]",
                "codecs",
                "twice",
            ),
            ("trunk = \"sip:h\"\ntts_command = \"\"", "tts_command", ""),
            (
                "trunk = \"sip:h\"\n[amd]\ngreeting = 0",
                "amd.greeting",
                "1–60000",
            ),
            (
                "trunk = \"sip:h\"\n[amd]\nsilence_threshold = 40000",
                "amd.silence_threshold",
                "1–32767",
            ),
            (
                "trunk = \"sip:h\"\nroutes = [\"sip\"]",
                "routes",
                "not a number prefix",
            ),
            (
                "trunk = \"sip:h\"\nbase_url = \"https://x\"",
                "base_url",
                "not a setting of kind sip",
            ),
            (
                "trunk = \"sip:h\"\napi_key = \"k\"",
                "api_key",
                "not a setting of kind sip",
            ),
        ];
        for (fields, field, problem) in cases {
            let e = parse(fields).expect_err(fields);
            assert_eq!(e.field, field, "{fields}: {e}");
            assert!(e.problem.contains(problem), "{fields}: {e}");
            assert_eq!(e.section, "trunk");
        }
    }

    #[test]
    fn an_unknown_amd_parameter_is_refused_by_the_reader() {
        let text = "name = \"t\"\nkind = \"sip\"\ntrunk = \"sip:h\"\n[amd]\ngreetings = 1";
        assert!(toml::from_str::<ProviderSection>(text).is_err());
    }

    #[test]
    fn the_password_is_never_printed() {
        let s = sip("trunk = \"sip:h\"\nusername = \"u\"\npassword = \"hunter2\"");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
