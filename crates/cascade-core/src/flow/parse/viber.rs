//! The rules of a Viber step: sender, TTL and what content goes together.

use std::ops::RangeInclusive;

use super::url::{ANY_HTTP_URL, HTTPS_URL, UrlRule};
use super::{AcceptContext, Checker, LABEL_MAX};
use crate::address::Msisdn;
use crate::fields::JsonObject;
use crate::fields::Presence::{Optional, Required};
use crate::flow::model::*;

/// Viber TTL in tenths of a minute: 0.5 to 1440 minutes.
const VIBER_TTL_TENTHS: RangeInclusive<i64> = 5..=14_400;
pub(super) const VIBER_TTL_RULE: &str =
    "must be a number of minutes from 0.5 to 1440 with at most one decimal";
const VIBER_DEFAULT_TTL_TENTHS: u32 = 100;
const VIBER_TEXT_MAX: usize = 1000;
const VIBER_URL_MAX: usize = 1000;
const CAPTION_MAX: usize = 30;
const FILE_NAME_MAX: usize = 25;
const FILE_TYPES: [&str; 21] = [
    "doc", "docx", "rtf", "dot", "dotx", "odt", "odf", "fodt", "txt", "info", "pdf", "xps", "pdax",
    "eps", "xls", "xlsx", "ods", "fods", "csv", "xlsm", "xltx",
];
const VIDEO_SIZE_MAX_MB: f64 = 200.0;
const VIDEO_DURATION_MAX_S: f64 = 600.0;
const VIBER_HTTPS_URL: UrlRule = UrlRule {
    https_only: true,
    max_chars: Some(VIBER_URL_MAX),
};

impl Checker {
    pub(super) fn viber(
        &mut self,
        obj: &JsonObject<'_>,
        ctx: &AcceptContext<'_>,
    ) -> Option<StepKind> {
        let sender = self
            .r
            .str_field(obj, "senderInfoTrackingId", Required)
            .and_then(|id| match ctx.viber_senders.get(id) {
                Some(name) => Some((id.to_owned(), name.clone())),
                None => self.r.fail(
                    obj.at("senderInfoTrackingId"),
                    "is not a Viber sender of this account",
                ),
            });
        let to = self.r.parsed(obj, "to", Required, Msisdn::parse);
        let ttl_tenths = self.viber_ttl(obj);
        let expire_on_delivery = self.r.flag(obj, "expireOnDelivery");
        let label = self.r.text(obj, "label", Optional, LABEL_MAX);
        let inbound_url = self.url(obj, "inboundUrl", Optional, ANY_HTTP_URL);
        let content = self
            .r
            .object_field(obj, "message", Required)
            .and_then(|m| self.viber_content(&m));

        let (sender_info_tracking_id, sender_name) = sender?;
        Some(StepKind::Viber(ViberStep {
            sender_info_tracking_id,
            sender_name,
            to: to?,
            ttl_tenths: ttl_tenths.unwrap_or(VIBER_DEFAULT_TTL_TENTHS),
            expire_on_delivery,
            label,
            inbound_url,
            content: content?,
        }))
    }

    /// Viber `ttl` in tenths of a minute. The float is scaled by 10 and must then be within
    /// 1e-9 of an integer, so `0.5` passes and `0.55` does not despite binary rounding.
    fn viber_ttl(&mut self, obj: &JsonObject<'_>) -> Option<u32> {
        let value = self.r.field(obj, "ttl", Optional)?;
        let tenths = value
            .as_f64()
            .map(|minutes| minutes * 10.0)
            .and_then(|scaled| {
                let whole = scaled.round();
                ((scaled - whole).abs() <= 1e-9).then_some(whole as i64)
            });
        match tenths
            .filter(|t| VIBER_TTL_TENTHS.contains(t))
            .and_then(|t| u32::try_from(t).ok())
        {
            Some(t) => Some(t),
            None => self.r.fail(obj.at("ttl"), VIBER_TTL_RULE),
        }
    }

    fn viber_content(&mut self, message: &JsonObject<'_>) -> Option<ViberContent> {
        let text = self.r.text(message, "text", Optional, VIBER_TEXT_MAX);
        let image_url = self.url(message, "imageUrl", Optional, VIBER_HTTPS_URL);
        let action = self
            .r
            .object_field(message, "action", Optional)
            .map(|a| self.viber_action(&a));
        let file = self
            .r
            .object_field(message, "viberFile", Optional)
            .map(|f| self.viber_file(&f));
        let video = self
            .r
            .object_field(message, "viberVideo", Optional)
            .map(|v| self.viber_video(&v));

        // What goes together is judged on what the client gave, valid or not, so a bad
        // imageUrl is reported once (at its own path), not again as "missing content".
        let [has_text, has_image, has_action, has_file, has_video] =
            ["text", "imageUrl", "action", "viberFile", "viberVideo"].map(|k| message.has(k));
        if !(has_text || has_image || has_file || has_video) {
            self.r.report(
                message.path(),
                "must have at least one of text, imageUrl, viberFile, viberVideo",
            );
        }
        let conflicts = |pairs: &[(&'static str, bool)]| -> Vec<&'static str> {
            pairs
                .iter()
                .filter(|(_, has)| *has)
                .map(|(name, _)| *name)
                .collect()
        };
        if has_file {
            let others = conflicts(&[
                ("text", has_text),
                ("imageUrl", has_image),
                ("action", has_action),
                ("viberVideo", has_video),
            ]);
            if !others.is_empty() {
                self.r.report(
                    message.path(),
                    format!("a viberFile goes alone, not with {}", others.join(", ")),
                );
            }
        } else if has_video {
            let others = conflicts(&[("imageUrl", has_image), ("action", has_action)]);
            if !others.is_empty() {
                let others = others.join(", ");
                self.r.report(
                    message.path(),
                    format!("a viberVideo goes alone (text is allowed), not with {others}"),
                );
            }
        }
        Some(ViberContent {
            text,
            image_url,
            action: action.flatten(),
            file: file.flatten(),
            video: video.flatten(),
        })
    }

    fn viber_action(&mut self, action: &JsonObject<'_>) -> Option<ViberAction> {
        let caption = self.r.text(action, "caption", Required, CAPTION_MAX);
        let target_url = self.url(action, "targetUrl", Required, VIBER_HTTPS_URL);
        Some(ViberAction {
            caption: caption?,
            target_url: target_url?,
        })
    }

    fn viber_file(&mut self, file: &JsonObject<'_>) -> Option<ViberFile> {
        let file_name = self.r.text(file, "fileName", Required, FILE_NAME_MAX);
        let file_type = self
            .r
            .choice(file, "fileType", Required, &FILE_TYPES.map(|t| (t, t)));
        let file_url = self.url(file, "fileUrl", Required, VIBER_HTTPS_URL);
        Some(ViberFile {
            file_name: file_name?,
            file_type: file_type?.to_owned(),
            file_url: file_url?,
        })
    }

    fn viber_video(&mut self, video: &JsonObject<'_>) -> Option<ViberVideo> {
        let video_url = self.url(video, "videoUrl", Required, HTTPS_URL);
        let video_thumbnail = self.url(video, "videoThumbnail", Required, HTTPS_URL);
        let file_size = self
            .r
            .positive_number(video, "fileSize", VIDEO_SIZE_MAX_MB, "megabytes");
        let duration = self
            .r
            .positive_number(video, "duration", VIDEO_DURATION_MAX_S, "seconds");
        Some(ViberVideo {
            video_url: video_url?,
            video_thumbnail: video_thumbnail?,
            file_size: file_size?,
            duration: duration?,
        })
    }
}
