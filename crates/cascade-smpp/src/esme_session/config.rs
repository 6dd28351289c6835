//! `EsmeConfig`: everything an ESME session is told up front.

use std::fmt;
use std::time::Duration;

use crate::codec::DEFAULT_MAX_PDU_LEN;
use crate::pdu::consts::INTERFACE_VERSION_34;
use crate::pdu::{Bind, BindMode, COctetString};

/// Settings of one ESME bind. Build with `EsmeConfig { system_id, password, ..Default::default() }`.
///
/// `Debug` hides the password, so the config can be logged.
#[derive(Clone)]
pub struct EsmeConfig {
    /// Which bind to send (transceiver by default).
    pub bind_mode: BindMode,
    /// `system_id` (max 15 characters).
    pub system_id: COctetString,
    /// `password` (max 8 characters).
    pub password: COctetString,
    /// `system_type` (max 12 characters), often empty.
    pub system_type: COctetString,
    /// `interface_version` sent in the bind: `0x34`.
    pub interface_version: u8,
    /// `addr_ton` of the bind.
    pub addr_ton: u8,
    /// `addr_npi` of the bind.
    pub addr_npi: u8,
    /// `address_range` of the bind (max 40 characters), often empty.
    pub address_range: COctetString,
    /// How long to wait for the bind response before giving up (default 10 s).
    pub bind_timeout: Duration,
    /// Send `enquire_link` after this long without receiving anything (default 30 s);
    /// `None` disables our probes (the peer's are still answered).
    pub enquire_link_interval: Option<Duration>,
    /// The link is lost when nothing arrives for this long after an `enquire_link`
    /// (default 10 s).
    pub enquire_link_timeout: Duration,
    /// How long a `submit_sm` may wait for its response (default 30 s).
    pub response_timeout: Duration,
    /// How long to wait for `unbind_resp` (default 5 s).
    pub unbind_timeout: Duration,
    /// Most `submit_sm` in flight at once (default 10).
    pub window: usize,
    /// Pause after `ESME_RTHROTTLED` / `ESME_RMSGQFUL` (default 1 s).
    pub throttle_backoff: Duration,
    /// Cap on submits per second (default none).
    pub throughput: Option<ThroughputLimit>,
    /// Largest PDU accepted from the peer (default [`DEFAULT_MAX_PDU_LEN`]).
    pub max_pdu_len: usize,
    /// `false` (default): every `deliver_sm`/`data_sm` is answered `ESME_ROK` as soon as it
    /// is decoded. `true`: the owner answers each one with
    /// [`EsmeSession::ack_incoming`](super::EsmeSession::ack_incoming) after it has stored the
    /// receipt, so a crash in between makes the SMSC send it again instead of losing it.
    pub manual_deliver_ack: bool,
}

impl Default for EsmeConfig {
    fn default() -> Self {
        EsmeConfig {
            bind_mode: BindMode::Transceiver,
            system_id: COctetString::new(),
            password: COctetString::new(),
            system_type: COctetString::new(),
            interface_version: INTERFACE_VERSION_34,
            addr_ton: 0,
            addr_npi: 0,
            address_range: COctetString::new(),
            bind_timeout: Duration::from_secs(10),
            enquire_link_interval: Some(Duration::from_secs(30)),
            enquire_link_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            unbind_timeout: Duration::from_secs(5),
            window: 10,
            throttle_backoff: Duration::from_secs(1),
            throughput: None,
            max_pdu_len: DEFAULT_MAX_PDU_LEN,
            manual_deliver_ack: false,
        }
    }
}

impl EsmeConfig {
    /// The bind body this config sends.
    pub fn bind(&self) -> Bind {
        Bind {
            system_id: self.system_id.clone(),
            password: self.password.clone(),
            system_type: self.system_type.clone(),
            interface_version: self.interface_version,
            addr_ton: self.addr_ton,
            addr_npi: self.addr_npi,
            address_range: self.address_range.clone(),
        }
    }
}

impl fmt::Debug for EsmeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EsmeConfig")
            .field("bind_mode", &self.bind_mode)
            .field("system_id", &self.system_id)
            .field("password", &"***")
            .field("system_type", &self.system_type)
            .field("interface_version", &self.interface_version)
            .field("addr_ton", &self.addr_ton)
            .field("addr_npi", &self.addr_npi)
            .field("address_range", &self.address_range)
            .field("bind_timeout", &self.bind_timeout)
            .field("enquire_link_interval", &self.enquire_link_interval)
            .field("enquire_link_timeout", &self.enquire_link_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("unbind_timeout", &self.unbind_timeout)
            .field("window", &self.window)
            .field("throttle_backoff", &self.throttle_backoff)
            .field("throughput", &self.throughput)
            .field("max_pdu_len", &self.max_pdu_len)
            .field("manual_deliver_ack", &self.manual_deliver_ack)
            .finish()
    }
}

/// The throughput cap: `per_second` submits per second on average, at most `burst` at
/// once (a token bucket, [`cascade_pace::TokenBucket`]).
pub type ThroughputLimit = cascade_pace::Rate;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let config = EsmeConfig {
            password: "hunter2".into(),
            ..EsmeConfig::default()
        };
        let text = format!("{config:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
