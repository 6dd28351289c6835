//! The rules of an SMS step.

use std::ops::RangeInclusive;

use super::url::ANY_HTTP_URL;
use super::{Checker, LABEL_MAX};
use crate::address::{Msisdn, SenderId};
use crate::fields::JsonObject;
use crate::fields::Presence::{Optional, Required};
use crate::flow::model::*;

const SMS_TTL_MINUTES: RangeInclusive<i64> = 1..=1440;
pub(super) const SMS_TTL_RULE: &str = "must be an integer from 1 to 1440";
const SMS_DEFAULT_TTL_MINUTES: u32 = 1200;

impl Checker {
    pub(super) fn sms(&mut self, obj: &JsonObject<'_>) -> Option<StepKind> {
        let from = self.r.parsed(obj, "from", Required, SenderId::parse);
        let to = self.r.parsed(obj, "to", Required, Msisdn::parse);
        let ttl_minutes = self
            .r
            .integer(obj, "ttl", Optional, SMS_TTL_MINUTES, SMS_TTL_RULE);
        let message = self.r.object_field(obj, "message", Required)?;
        let body = self.r.str_field(&message, "body", Required);
        let flash = self.r.flag(&message, "flash");
        let label = self.r.text(&message, "label", Optional, LABEL_MAX);
        let transcode = self.r.flag(&message, "transcode");
        let inbound_url = self.url(obj, "inboundUrl", Optional, ANY_HTTP_URL);

        let body = body?.to_owned();
        let plan = crate::sms::plan(&body, transcode);
        Some(StepKind::Sms(SmsStep {
            from: from?,
            to: to?,
            ttl_minutes: ttl_minutes.unwrap_or(SMS_DEFAULT_TTL_MINUTES),
            body,
            flash,
            label,
            inbound_url,
            transcode,
            encoding: plan.encoding,
            parts: plan.parts,
        }))
    }
}
