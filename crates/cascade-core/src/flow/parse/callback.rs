//! The flow's optional `callback`.

use super::Checker;
use super::url::ANY_HTTP_URL;
use crate::fields::JsonObject;
use crate::fields::Presence::{Optional, Required};
use crate::flow::model::*;

const STRATEGIES: [(&str, CallbackStrategy); 3] = [
    ("OnChange", CallbackStrategy::OnChange),
    ("OnStep", CallbackStrategy::OnStep),
    ("OnCompletion", CallbackStrategy::OnCompletion),
];

impl Checker {
    pub(super) fn callback(&mut self, root: &JsonObject<'_>) -> Option<Callback> {
        let callback = self.r.object_field(root, "callback", Optional)?;
        let strategy = self.r.choice(&callback, "strategy", Required, &STRATEGIES);
        let url = self.url(&callback, "url", Required, ANY_HTTP_URL);
        Some(Callback {
            strategy: strategy?,
            url: url?,
        })
    }
}
