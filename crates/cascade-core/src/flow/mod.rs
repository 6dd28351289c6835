//! Flows: the checked model ([`model`]), parsing a request into it ([`parse`]) and
//! printing it back ([`echo`]).

pub mod echo;
pub mod model;
pub mod parse;

use std::collections::BTreeMap;

use serde::Serialize;

pub use echo::echo_flow;
pub use model::*;
pub use parse::{AcceptContext, TtlClock, parse_flow};

/// Everything wrong with a request, keyed by field path (`flow[1].ttl`,
/// `flow[0].message.body`, `callback.url`). Several problems with one field are joined
/// with `"; "`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(BTreeMap<String, String>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let message = message.into();
        self.0
            .entry(path.into())
            .and_modify(|m| {
                m.push_str("; ");
                m.push_str(&message);
            })
            .or_insert(message);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.0.get(path).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A one-line summary for `developerMessage`.
    pub fn summary(&self) -> String {
        match self.0.len() {
            0 => "Validation failed.".to_owned(),
            1 => format!(
                "Validation failed: {} is invalid.",
                self.0.keys().next().map_or("", String::as_str)
            ),
            n => format!("Validation failed: {n} fields are invalid."),
        }
    }
}
