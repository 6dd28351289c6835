//! The field layout `submit_sm` and `deliver_sm` share (SMPP 3.4 §4.4.1 and §4.6.1), written
//! once as a macro so the two PDUs stay distinct types with identical wire handling.
//!
//! In `deliver_sm`, `schedule_delivery_time`, `validity_period` and `replace_if_present_flag`
//! are "not used" and sent as NULL/0 by SMSCs, but they are on the wire, so the same layout
//! decodes both.

/// Defines a short-message PDU struct with decode/encode for the shared layout.
macro_rules! short_message_pdu {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            /// SMS application service (max 5 characters), usually empty.
            pub service_type: $crate::pdu::COctetString,
            /// TON of `source_addr` (see [`consts`](crate::pdu::consts)).
            pub source_addr_ton: u8,
            /// NPI of `source_addr`.
            pub source_addr_npi: u8,
            /// Originator address (max 20 characters).
            pub source_addr: $crate::pdu::COctetString,
            /// TON of `destination_addr`.
            pub dest_addr_ton: u8,
            /// NPI of `destination_addr`.
            pub dest_addr_npi: u8,
            /// Recipient address (max 20 characters).
            pub destination_addr: $crate::pdu::COctetString,
            /// Messaging mode, message type and GSM features (`ESM_CLASS_*`).
            pub esm_class: u8,
            /// GSM TP-Protocol-Identifier.
            pub protocol_id: u8,
            /// `PRIORITY_*`.
            pub priority_flag: u8,
            /// Empty for "now", or a 16-character SMPP time.
            pub schedule_delivery_time: $crate::pdu::COctetString,
            /// Empty for the SMSC default, or a 16-character SMPP time (absolute or relative).
            pub validity_period: $crate::pdu::COctetString,
            /// `REGISTERED_DELIVERY_*`: which receipts are wanted.
            pub registered_delivery: u8,
            /// Replace an earlier message with the same source/destination/service_type.
            pub replace_if_present_flag: u8,
            /// `DATA_CODING_*`.
            pub data_coding: u8,
            /// Index of a canned message, 0 for none.
            pub sm_default_msg_id: u8,
            /// Up to 254 octets (UDH included when `esm_class` has `ESM_CLASS_UDHI`); empty
            /// when the message travels in the `message_payload` TLV.
            pub short_message: ::bytes::Bytes,
            /// Optional parameters.
            pub tlvs: $crate::pdu::TlvList,
        }

        impl $name {
            pub(crate) fn decode(
                r: &mut $crate::pdu::wire::Reader,
            ) -> Result<Self, $crate::error::FieldError> {
                use $crate::pdu::wire::max;
                Ok($name {
                    service_type: r.c_string("service_type", max::SERVICE_TYPE)?,
                    source_addr_ton: r.u8("source_addr_ton")?,
                    source_addr_npi: r.u8("source_addr_npi")?,
                    source_addr: r.c_string("source_addr", max::SM_ADDR)?,
                    dest_addr_ton: r.u8("dest_addr_ton")?,
                    dest_addr_npi: r.u8("dest_addr_npi")?,
                    destination_addr: r.c_string("destination_addr", max::SM_ADDR)?,
                    esm_class: r.u8("esm_class")?,
                    protocol_id: r.u8("protocol_id")?,
                    priority_flag: r.u8("priority_flag")?,
                    schedule_delivery_time: r.time("schedule_delivery_time")?,
                    validity_period: r.time("validity_period")?,
                    registered_delivery: r.u8("registered_delivery")?,
                    replace_if_present_flag: r.u8("replace_if_present_flag")?,
                    data_coding: r.u8("data_coding")?,
                    sm_default_msg_id: r.u8("sm_default_msg_id")?,
                    short_message: r.short_message()?,
                    tlvs: r.tlvs()?,
                })
            }

            pub(crate) fn encode(
                &self,
                out: &mut ::bytes::BytesMut,
            ) -> Result<(), $crate::error::EncodeError> {
                use ::bytes::BufMut;
                use $crate::pdu::wire::{max, put_c_string, put_short_message, put_time, put_tlvs};
                put_c_string(out, "service_type", max::SERVICE_TYPE, &self.service_type)?;
                out.put_u8(self.source_addr_ton);
                out.put_u8(self.source_addr_npi);
                put_c_string(out, "source_addr", max::SM_ADDR, &self.source_addr)?;
                out.put_u8(self.dest_addr_ton);
                out.put_u8(self.dest_addr_npi);
                put_c_string(out, "destination_addr", max::SM_ADDR, &self.destination_addr)?;
                out.put_u8(self.esm_class);
                out.put_u8(self.protocol_id);
                out.put_u8(self.priority_flag);
                put_time(out, "schedule_delivery_time", &self.schedule_delivery_time)?;
                put_time(out, "validity_period", &self.validity_period)?;
                out.put_u8(self.registered_delivery);
                out.put_u8(self.replace_if_present_flag);
                out.put_u8(self.data_coding);
                out.put_u8(self.sm_default_msg_id);
                put_short_message(out, &self.short_message)?;
                put_tlvs(out, &self.tlvs)
            }

            /// The message octets: `short_message`, or the `message_payload` TLV when
            /// `short_message` is empty.
            pub fn message(&self) -> &[u8] {
                if self.short_message.is_empty() {
                    if let Some(payload) = self.tlvs.message_payload() {
                        return payload;
                    }
                }
                &self.short_message
            }
        }
    };
}

pub(super) use short_message_pdu;
