//! `[[smsc]]` connections as configured.

use cascade_smpp::MessageIdForm;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// One SMSC connection (`[[smsc]]` in the configuration file).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmscSettings {
    /// Shown in metrics and tracking events; also names the provider reports match under.
    pub name: String,
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: bool,
    pub system_id: String,
    /// Held as a secret: never printed, wiped from memory when dropped.
    #[serde(default = "no_password")]
    pub password: SecretString,
    #[serde(default)]
    pub system_type: String,
    /// Binds held open (each a transceiver, or a transmitter + receiver pair).
    #[serde(default = "one")]
    pub binds: u32,
    #[serde(default)]
    pub bind_mode: BindModeSetting,
    /// Submits in flight per bind.
    #[serde(default = "default_window")]
    pub window: u32,
    /// Submits per second per bind; 0 = no cap.
    #[serde(default = "default_throughput")]
    pub throughput: u32,
    /// Destination prefixes served (`+30`, `+4917`); `*` = default.
    #[serde(default = "default_routes")]
    pub routes: Vec<String>,
    /// Among the SMSCs (and providers) whose routes match: lowest first; the next one
    /// takes a message the first cannot.
    #[serde(default = "one")]
    pub priority: u32,
    #[serde(default)]
    pub receipt_ids: ReceiptIds,
    /// How a long message travels: `udh` (concatenation header), `sar` (TLVs) or
    /// `payload` (one `submit_sm` with `message_payload`).
    #[serde(default)]
    pub long_messages: LongMessages,
    /// How GSM-7 text goes on the wire: `gsm` (data_coding 0, GSM 03.38 unpacked),
    /// `latin1` (data_coding 3) or `ia5` (data_coding 1, ASCII) for SMSCs that read
    /// data_coding 0 otherwise. UCS-2 is always data_coding 8.
    #[serde(default)]
    pub gsm7_coding: Gsm7Coding,
    #[serde(default = "default_enquire_link")]
    pub enquire_link_seconds: u64,
    #[serde(default = "default_response_timeout")]
    pub response_timeout_seconds: u64,
    /// After a restart, how long a step the run before may have sent waits for the
    /// SMSC's receipts before it is sent again (0: never waits).
    #[serde(default = "default_recovery_wait")]
    pub recovery_wait_seconds: u64,
}

impl std::fmt::Debug for SmscSettings {
    /// Everything but the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmscSettings")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("system_id", &self.system_id)
            .field("password", &"***")
            .field("binds", &self.binds)
            .field("bind_mode", &self.bind_mode)
            .field("window", &self.window)
            .field("throughput", &self.throughput)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

fn default_port() -> u16 {
    2775
}
fn one() -> u32 {
    1
}
fn default_window() -> u32 {
    10
}
fn default_throughput() -> u32 {
    100
}
fn default_routes() -> Vec<String> {
    vec!["*".to_owned()]
}
fn default_enquire_link() -> u64 {
    30
}
fn default_response_timeout() -> u64 {
    30
}

fn default_recovery_wait() -> u64 {
    10
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BindModeSetting {
    #[default]
    Transceiver,
    TransmitterReceiver,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReceiptIds {
    #[default]
    Auto,
    Same,
    HexSubmitDecReceipt,
    DecSubmitHexReceipt,
}

impl ReceiptIds {
    pub fn form(self) -> MessageIdForm {
        match self {
            ReceiptIds::Auto => MessageIdForm::Auto,
            ReceiptIds::Same => MessageIdForm::Same,
            ReceiptIds::HexSubmitDecReceipt => MessageIdForm::HexSubmitDecReceipt,
            ReceiptIds::DecSubmitHexReceipt => MessageIdForm::DecSubmitHexReceipt,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LongMessages {
    #[default]
    Udh,
    Sar,
    Payload,
}

/// The alphabet GSM-7 text is sent in (see [`SmscSettings::gsm7_coding`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gsm7Coding {
    #[default]
    Gsm,
    Latin1,
    Ia5,
}

fn no_password() -> SecretString {
    SecretString::from("")
}

impl SmscSettings {
    /// A connection to the in-process SMSC simulator.
    pub fn simulator(host: &str, port: u16) -> SmscSettings {
        SmscSettings {
            name: "sandbox-smsc".into(),
            host: host.into(),
            port,
            tls: false,
            system_id: "cascade".into(),
            password: no_password(),
            system_type: String::new(),
            binds: 1,
            bind_mode: BindModeSetting::Transceiver,
            window: 100,
            throughput: 0,
            routes: default_routes(),
            priority: 1,
            receipt_ids: ReceiptIds::Same,
            long_messages: LongMessages::Udh,
            gsm7_coding: Gsm7Coding::Gsm,
            enquire_link_seconds: default_enquire_link(),
            response_timeout_seconds: default_response_timeout(),
            recovery_wait_seconds: default_recovery_wait(),
        }
    }

    /// The name reports from this SMSC are matched under.
    pub fn provider_name(&self) -> String {
        format!("smsc:{}", self.name)
    }

    /// Check what serde cannot.
    ///
    /// # Errors
    /// A sentence naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.name;
        if n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "smsc name {n:?} must be letters, digits, '-', '_' or '.'"
            ));
        }
        if self.host.is_empty() {
            return Err(format!("smsc {n}: host is required"));
        }
        if self.system_id.is_empty() || self.system_id.len() > 15 {
            return Err(format!("smsc {n}: system_id must be 1 to 15 characters"));
        }
        if self.password.expose_secret().len() > 8 {
            return Err(format!(
                "smsc {n}: password has at most 8 characters in SMPP 3.4"
            ));
        }
        if self.system_type.len() > 12 {
            return Err(format!("smsc {n}: system_type has at most 12 characters"));
        }
        if !(1..=32).contains(&self.binds) {
            return Err(format!("smsc {n}: binds must be from 1 to 32"));
        }
        if !(1..=1000).contains(&self.window) {
            return Err(format!("smsc {n}: window must be from 1 to 1000"));
        }
        if self.routes.is_empty() {
            return Err(format!(
                "smsc {n}: routes must list at least one prefix or \"*\""
            ));
        }
        for r in &self.routes {
            let digits = r.strip_prefix('+').unwrap_or(r);
            if r != "*" && (digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit())) {
                return Err(format!(
                    "smsc {n}: route {r:?} must be \"*\" or a number prefix like \"+30\""
                ));
            }
        }
        if self.enquire_link_seconds == 0 || self.response_timeout_seconds == 0 {
            return Err(format!("smsc {n}: timers must be at least one second"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smsc(name: &str, routes: &[&str]) -> SmscSettings {
        let mut s = SmscSettings::simulator("127.0.0.1", 2775);
        s.name = name.into();
        s.routes = routes.iter().map(|r| (*r).to_owned()).collect();
        s
    }

    #[test]
    fn smscs_are_ordered_by_priority_then_longest_prefix_then_default() {
        let order = |smscs: &[SmscSettings], to: &str| {
            crate::http::failover::route_order(
                smscs.iter().map(|s| (s.priority, s.routes.as_slice())),
                to,
            )
        };
        let smscs = [
            smsc("gr", &["+30"]),
            smsc("vf", &["+30694"]),
            smsc("world", &["*"]),
        ];
        assert_eq!(order(&smscs, "+306941234567"), vec![1, 0, 2]);
        assert_eq!(order(&smscs, "+306971234567"), vec![0, 2]);
        assert_eq!(order(&smscs, "+4915112345678"), vec![2]);
        assert!(order(&[smsc("gr", &["+30"])], "+49151").is_empty());
        let mut backup = smsc("backup", &["+30694"]);
        backup.priority = 2;
        assert_eq!(
            order(&[backup, smsc("world", &["*"])], "+306941234567"),
            vec![1, 0],
            "priority before prefix length"
        );
    }

    #[test]
    fn settings_are_checked() {
        let ok = smsc("primary", &["*"]);
        assert!(ok.validate().is_ok());
        let bad = |f: &dyn Fn(&mut SmscSettings)| {
            let mut s = ok.clone();
            f(&mut s);
            s.validate().unwrap_err()
        };
        assert!(bad(&|s| s.name = "has space".into()).contains("name"));
        assert!(bad(&|s| s.system_id = "x".repeat(16)).contains("system_id"));
        assert!(bad(&|s| s.password = "123456789".into()).contains("password"));
        assert!(bad(&|s| s.window = 0).contains("window"));
        assert!(bad(&|s| s.routes = vec!["30x".into()]).contains("route"));
        assert!(
            !format!(
                "{:?}",
                SmscSettings {
                    password: "s3cret".into(),
                    ..ok
                }
            )
            .contains("s3cret")
        );
    }

    #[test]
    fn toml_shape_of_the_spec() {
        let s: SmscSettings = toml::from_str(
            r#"
name = "primary"
host = "127.0.0.1"
port = 2775
tls = false
system_id = "cascade"
password = "secret"
system_type = ""
binds = 1
window = 10
throughput = 100
routes = ["*"]
receipt_ids = "hex-submit-dec-receipt"
"#,
        )
        .unwrap();
        assert_eq!(s.receipt_ids.form(), MessageIdForm::HexSubmitDecReceipt);
        assert_eq!(s.long_messages, LongMessages::Udh);
        assert_eq!(s.gsm7_coding, Gsm7Coding::Gsm);
        let latin: SmscSettings = toml::from_str(
            "name = \"x\"\nhost = \"h\"\nsystem_id = \"s\"\ngsm7_coding = \"latin1\"\nlong_messages = \"sar\"",
        )
        .unwrap();
        assert_eq!(
            (latin.gsm7_coding, latin.long_messages),
            (Gsm7Coding::Latin1, LongMessages::Sar)
        );
        assert!(
            toml::from_str::<SmscSettings>(
                "name = \"x\"\nhost = \"h\"\nsystem_id = \"s\"\ngsm7_coding = \"utf8\""
            )
            .is_err()
        );
        assert!(s.validate().is_ok());
    }
}
