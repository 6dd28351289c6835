//! `SmscConfig` and `BindPolicy`: how the simulated SMSC behaves on one connection.

use std::fmt;
use std::time::Duration;

use crate::codec::DEFAULT_MAX_PDU_LEN;
use crate::pdu::consts::INTERFACE_VERSION_34;
use crate::pdu::{Bind, COctetString, CommandStatus};

/// Who may bind.
#[derive(Clone, Default)]
pub enum BindPolicy {
    /// Any `system_id` and password.
    #[default]
    AcceptAll,
    /// Exactly this pair; a wrong `system_id` is answered `ESME_RINVSYSID`, a wrong password
    /// `ESME_RINVPASWD`.
    Credentials {
        /// Expected `system_id`.
        system_id: COctetString,
        /// Expected password.
        password: COctetString,
    },
    /// The owner decides: a bind yields
    /// [`SmscEvent::BindRequested`](super::SmscEvent::BindRequested), answered with
    /// [`SmscSession::accept_bind`](super::SmscSession::accept_bind) or
    /// [`SmscSession::reject_bind`](super::SmscSession::reject_bind).
    Manual,
}

impl BindPolicy {
    /// `Ok` when `bind` passes, or the status to refuse it with. `Manual` always passes here
    /// (the owner is asked separately).
    pub fn check(&self, bind: &Bind) -> Result<(), CommandStatus> {
        match self {
            BindPolicy::AcceptAll | BindPolicy::Manual => Ok(()),
            BindPolicy::Credentials {
                system_id,
                password,
            } => {
                if bind.system_id != *system_id {
                    Err(CommandStatus::ESME_RINVSYSID)
                } else if bind.password != *password {
                    Err(CommandStatus::ESME_RINVPASWD)
                } else {
                    Ok(())
                }
            }
        }
    }
}

impl fmt::Debug for BindPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindPolicy::AcceptAll => f.write_str("AcceptAll"),
            BindPolicy::Manual => f.write_str("Manual"),
            BindPolicy::Credentials { system_id, .. } => f
                .debug_struct("Credentials")
                .field("system_id", system_id)
                .field("password", &"***")
                .finish(),
        }
    }
}

/// Settings of one SMSC-side connection.
#[derive(Debug, Clone)]
pub struct SmscConfig {
    /// Our `system_id`, sent in the bind response (max 15 characters).
    pub system_id: COctetString,
    /// Who may bind.
    pub bind_policy: BindPolicy,
    /// `sc_interface_version` TLV in the bind response (`0x34`).
    pub sc_interface_version: u8,
    /// How long a new connection may take to bind before it is closed (default 30 s).
    pub bind_timeout: Duration,
    /// Send `enquire_link` after this long without receiving anything (default 30 s);
    /// `None` disables our probes.
    pub enquire_link_interval: Option<Duration>,
    /// The link is lost when nothing arrives for this long after an `enquire_link`
    /// (default 10 s).
    pub enquire_link_timeout: Duration,
    /// How long a `deliver_sm` may wait for its response (default 30 s).
    pub response_timeout: Duration,
    /// How long to wait for `unbind_resp` (default 5 s).
    pub unbind_timeout: Duration,
    /// Most `deliver_sm` in flight at once (default 10).
    pub deliver_window: usize,
    /// Largest PDU accepted from the peer.
    pub max_pdu_len: usize,
}

impl Default for SmscConfig {
    fn default() -> Self {
        SmscConfig {
            system_id: COctetString::from_static("cascade-sim"),
            bind_policy: BindPolicy::AcceptAll,
            sc_interface_version: INTERFACE_VERSION_34,
            bind_timeout: Duration::from_secs(30),
            enquire_link_interval: Some(Duration::from_secs(30)),
            enquire_link_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            unbind_timeout: Duration::from_secs(5),
            deliver_window: 10,
            max_pdu_len: DEFAULT_MAX_PDU_LEN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_check_names_the_wrong_part() {
        let policy = BindPolicy::Credentials {
            system_id: "esme".into(),
            password: "pw".into(),
        };
        let mut bind = Bind {
            system_id: "esme".into(),
            password: "pw".into(),
            ..Bind::default()
        };
        assert_eq!(policy.check(&bind), Ok(()));
        bind.password = "nope".into();
        assert_eq!(policy.check(&bind), Err(CommandStatus::ESME_RINVPASWD));
        bind.system_id = "other".into();
        assert_eq!(policy.check(&bind), Err(CommandStatus::ESME_RINVSYSID));
        assert!(!format!("{policy:?}").contains("pw"));
    }
}
