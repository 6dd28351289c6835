//! Codec errors. Every variant names the field (or TLV tag) that failed and carries the
//! sizes involved, so a log line is enough to find the offending byte.

use crate::pdu::{CommandId, CommandStatus, Header};

/// Why [`decode`](crate::codec::decode) refused the bytes in front of it.
///
/// Two cases, because the caller reacts differently:
///
/// - [`DecodeError::BadLength`]: the `command_length` in the header is impossible. Nothing
///   was consumed and the stream cannot be resynchronised; close the connection (after a
///   `generic_nack` with `ESME_RINVCMDLEN` if you like).
/// - [`DecodeError::Malformed`]: the frame was complete and **has been consumed**, but its
///   body does not parse. The stream is still in sync; answer with `generic_nack` using
///   [`DecodeError::sequence_number`] and [`FieldError::suggested_status`], then go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// `command_length` is below 16 (the header alone) or above the configured maximum.
    /// Returned as soon as the first four bytes are there, before any body is buffered.
    #[error("command_length {length} outside 16..={max}")]
    BadLength {
        /// The `command_length` read from the wire.
        length: u32,
        /// The maximum the caller allowed.
        max: usize,
    },
    /// A complete PDU whose body does not parse; the frame has been consumed.
    #[error("malformed {} (sequence_number {}): {error}", .header.command_id, .header.sequence_number)]
    Malformed {
        /// The PDU's header, intact: use its `sequence_number` for the `generic_nack`.
        header: Header,
        /// What was wrong with the body.
        error: FieldError,
    },
}

impl DecodeError {
    /// The header of the offending PDU, when it was read (always for `Malformed`).
    pub fn header(&self) -> Option<&Header> {
        match self {
            DecodeError::Malformed { header, .. } => Some(header),
            DecodeError::BadLength { .. } => None,
        }
    }

    /// The sequence number to put in the `generic_nack`, when known.
    pub fn sequence_number(&self) -> Option<u32> {
        self.header().map(|h| h.sequence_number)
    }

    /// True when the stream cannot continue (`BadLength`): the caller must close.
    pub fn is_fatal(&self) -> bool {
        matches!(self, DecodeError::BadLength { .. })
    }

    /// The `command_status` to answer with in a `generic_nack`.
    pub fn suggested_status(&self) -> CommandStatus {
        match self {
            DecodeError::BadLength { .. } => CommandStatus::ESME_RINVCMDLEN,
            DecodeError::Malformed { error, .. } => error.suggested_status(),
        }
    }
}

/// What was wrong inside a PDU body. Produced by the PDU decoders; wrapped in
/// [`DecodeError::Malformed`] by the codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The body ended before `field` could be read.
    #[error("{field}: needs {needed} bytes, {available} left")]
    TooShort {
        /// The mandatory field being read (e.g. `"sm_length"`).
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the body.
        available: usize,
    },
    /// A C-octet string has no NUL within its maximum size (`max` includes the NUL).
    #[error("{field}: no NUL within its {max} bytes")]
    CStringTooLong {
        /// The field (e.g. `"system_id"`).
        field: &'static str,
        /// SMPP 3.4 maximum size, NUL included.
        max: usize,
    },
    /// A C-octet string runs into the end of the body without its NUL.
    #[error("{field}: missing NUL terminator")]
    MissingNul {
        /// The field.
        field: &'static str,
    },
    /// A time field (`schedule_delivery_time`, `validity_period`) is neither empty nor 16
    /// characters.
    #[error("{field}: {length} characters, expected 0 or 16")]
    InvalidTime {
        /// The field.
        field: &'static str,
        /// Characters before the NUL.
        length: usize,
    },
    /// A length field holds a value above its maximum (`sm_length` > 254).
    #[error("{field}: {value} exceeds {max}")]
    InvalidLength {
        /// The length field (e.g. `"sm_length"`).
        field: &'static str,
        /// The value read.
        value: usize,
        /// The largest value allowed.
        max: usize,
    },
    /// Bytes left over after the last field of a PDU that has no optional part.
    #[error("{count} trailing bytes after the last field")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
    /// An optional parameter whose header or value runs past the end of the body.
    /// `tag` is `None` when fewer than two bytes were left to read it.
    #[error("TLV {tag:?}: needs {needed} bytes, {available} left")]
    TlvTruncated {
        /// The TLV tag, when it could be read.
        tag: Option<u16>,
        /// Bytes needed for the TLV header or value.
        needed: usize,
        /// Bytes left in the body.
        available: usize,
    },
}

impl FieldError {
    /// The field or TLV this error is about (`"tlv"` for TLV errors, `"body"` for trailing
    /// bytes).
    pub fn field(&self) -> &'static str {
        match self {
            FieldError::TooShort { field, .. }
            | FieldError::CStringTooLong { field, .. }
            | FieldError::MissingNul { field }
            | FieldError::InvalidTime { field, .. }
            | FieldError::InvalidLength { field, .. } => field,
            FieldError::TrailingBytes { .. } => "body",
            FieldError::TlvTruncated { .. } => "tlv",
        }
    }

    /// The SMPP status that best describes this error, for a `generic_nack` or an error
    /// response: the field-specific code when SMPP has one (`ESME_RINVSRCADR`,
    /// `ESME_RINVSYSID`, ...), else `ESME_RINVCMDLEN` / `ESME_RINVMSGLEN` /
    /// `ESME_RINVOPTPARSTREAM`.
    pub fn suggested_status(&self) -> CommandStatus {
        match self {
            FieldError::TlvTruncated { .. } => CommandStatus::ESME_RINVOPTPARSTREAM,
            FieldError::TooShort { .. } | FieldError::TrailingBytes { .. } => {
                CommandStatus::ESME_RINVCMDLEN
            }
            _ => match self.field() {
                "source_addr" => CommandStatus::ESME_RINVSRCADR,
                "destination_addr" => CommandStatus::ESME_RINVDSTADR,
                "system_id" => CommandStatus::ESME_RINVSYSID,
                "password" => CommandStatus::ESME_RINVPASWD,
                "system_type" => CommandStatus::ESME_RINVSYSTYP,
                "service_type" => CommandStatus::ESME_RINVSERTYP,
                "schedule_delivery_time" => CommandStatus::ESME_RINVSCHED,
                "validity_period" => CommandStatus::ESME_RINVEXPIRY,
                "message_id" => CommandStatus::ESME_RINVMSGID,
                "sm_length" | "short_message" => CommandStatus::ESME_RINVMSGLEN,
                _ => CommandStatus::ESME_RSYSERR,
            },
        }
    }
}

/// Why [`encode`](crate::codec::encode) refused a PDU. Nothing is left in the output buffer
/// when encoding fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A C-octet string is longer than SMPP 3.4 allows (`max` includes the NUL).
    #[error("{field}: {length} bytes do not fit in {max} (NUL included)")]
    CStringTooLong {
        /// The field.
        field: &'static str,
        /// Bytes in the value (without NUL).
        length: usize,
        /// SMPP 3.4 maximum size, NUL included.
        max: usize,
    },
    /// A C-octet string contains a NUL byte, which would end it early on the wire.
    #[error("{field}: contains a NUL byte")]
    NulInCString {
        /// The field.
        field: &'static str,
    },
    /// A time field is neither empty nor 16 characters.
    #[error("{field}: {length} characters, expected 0 or 16")]
    InvalidTime {
        /// The field.
        field: &'static str,
        /// Characters in the value.
        length: usize,
    },
    /// `short_message` is longer than 254 octets: use the `message_payload` TLV instead.
    #[error("short_message: {length} octets exceed 254 (use message_payload)")]
    ShortMessageTooLong {
        /// Octets in `short_message`.
        length: usize,
    },
    /// A TLV value longer than 65535 octets.
    #[error("TLV {tag:#06x}: {length} octets exceed 65535")]
    TlvTooLong {
        /// The TLV tag.
        tag: u16,
        /// Octets in the value.
        length: usize,
    },
    /// The whole PDU would not fit in `command_length` (u32).
    #[error("{command_id}: {length} bytes do not fit in command_length")]
    PduTooLong {
        /// The command being encoded.
        command_id: CommandId,
        /// Its size in bytes.
        length: usize,
    },
}

/// Why an answer to a peer's request could not be given: returned by
/// [`SmscSession::accept`](crate::SmscSession::accept), `reject`, `accept_bind`,
/// `reject_bind` and [`EsmeSession::ack_incoming`](crate::EsmeSession::ack_incoming).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// No request with this sequence number is waiting for an answer.
    #[error("no pending request with sequence number {seq}")]
    UnknownSequence {
        /// The sequence number given.
        seq: u32,
    },
    /// No bind is waiting for a decision.
    #[error("no bind pending")]
    NoBindPending,
    /// The answer breaks an SMPP limit (message id over 64 characters).
    #[error("invalid response: {0}")]
    Invalid(EncodeError),
}
