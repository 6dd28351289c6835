//! SMPP 3.4 command ids (§5.1.2.1).

use std::fmt;

/// A `command_id`. Responses are the request id with bit 31 set.
///
/// Ids this crate does not decode (`query_sm`, `cancel_sm`, ...) still have constants here
/// so logs can name them; their PDUs decode to [`PduBody::Unknown`](super::PduBody::Unknown).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u32);

macro_rules! command_ids {
    ($($name:ident = $value:literal, $text:literal;)*) => {
        impl CommandId {
            $(
                #[doc = concat!("`", $text, "`")]
                pub const $name: CommandId = CommandId($value);
            )*

            /// The SMPP name (`"submit_sm_resp"`), or `None` for an id SMPP 3.4 does not define.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

command_ids! {
    GENERIC_NACK = 0x8000_0000, "generic_nack";
    BIND_RECEIVER = 0x0000_0001, "bind_receiver";
    BIND_RECEIVER_RESP = 0x8000_0001, "bind_receiver_resp";
    BIND_TRANSMITTER = 0x0000_0002, "bind_transmitter";
    BIND_TRANSMITTER_RESP = 0x8000_0002, "bind_transmitter_resp";
    QUERY_SM = 0x0000_0003, "query_sm";
    QUERY_SM_RESP = 0x8000_0003, "query_sm_resp";
    SUBMIT_SM = 0x0000_0004, "submit_sm";
    SUBMIT_SM_RESP = 0x8000_0004, "submit_sm_resp";
    DELIVER_SM = 0x0000_0005, "deliver_sm";
    DELIVER_SM_RESP = 0x8000_0005, "deliver_sm_resp";
    UNBIND = 0x0000_0006, "unbind";
    UNBIND_RESP = 0x8000_0006, "unbind_resp";
    REPLACE_SM = 0x0000_0007, "replace_sm";
    REPLACE_SM_RESP = 0x8000_0007, "replace_sm_resp";
    CANCEL_SM = 0x0000_0008, "cancel_sm";
    CANCEL_SM_RESP = 0x8000_0008, "cancel_sm_resp";
    BIND_TRANSCEIVER = 0x0000_0009, "bind_transceiver";
    BIND_TRANSCEIVER_RESP = 0x8000_0009, "bind_transceiver_resp";
    OUTBIND = 0x0000_000B, "outbind";
    ENQUIRE_LINK = 0x0000_0015, "enquire_link";
    ENQUIRE_LINK_RESP = 0x8000_0015, "enquire_link_resp";
    SUBMIT_MULTI = 0x0000_0021, "submit_multi";
    SUBMIT_MULTI_RESP = 0x8000_0021, "submit_multi_resp";
    ALERT_NOTIFICATION = 0x0000_0102, "alert_notification";
    DATA_SM = 0x0000_0103, "data_sm";
    DATA_SM_RESP = 0x8000_0103, "data_sm_resp";
}

impl CommandId {
    /// Bit 31: set on every response (and on `generic_nack`).
    pub const RESPONSE_BIT: u32 = 0x8000_0000;

    /// True for responses and `generic_nack`.
    pub fn is_response(self) -> bool {
        self.0 & Self::RESPONSE_BIT != 0
    }

    /// The response id for this request id (bit 31 set).
    pub fn response(self) -> CommandId {
        CommandId(self.0 | Self::RESPONSE_BIT)
    }
}

impl fmt::Debug for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}({:#010x})", self.0),
            None => write!(f, "CommandId({:#010x})", self.0),
        }
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "command {:#010x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_response_bit() {
        assert_eq!(CommandId::SUBMIT_SM.name(), Some("submit_sm"));
        assert_eq!(CommandId::SUBMIT_SM.response(), CommandId::SUBMIT_SM_RESP);
        assert!(CommandId::GENERIC_NACK.is_response());
        assert!(!CommandId::DATA_SM.is_response());
        assert_eq!(CommandId(0x1234).name(), None);
        assert_eq!(CommandId(0x1234).to_string(), "command 0x00001234");
    }
}
