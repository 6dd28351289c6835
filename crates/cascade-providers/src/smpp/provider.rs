//! [`SmppProvider`]: the SMS provider, routing each step to one SMSC by destination.

use std::sync::Arc;

use async_trait::async_trait;
use cascade_core::ports::{Accepted, Provider, SubmitError, SubmitRequest};
use cascade_core::reasons;

use super::connection::SmscConnection;
use super::settings::{Routes, SmscSettings};

/// SMS over SMPP: each step goes to the SMSC its destination routes to.
#[derive(Debug)]
pub struct SmppProvider {
    connections: Vec<Arc<SmscConnection>>,
    routes: Routes,
}

impl SmppProvider {
    /// `connections` in configuration order (routes refer to them by position).
    pub fn new(connections: Vec<Arc<SmscConnection>>) -> SmppProvider {
        let settings: Vec<SmscSettings> = connections.iter().map(|c| c.settings.clone()).collect();
        SmppProvider {
            routes: Routes::new(&settings),
            connections,
        }
    }

    pub fn connections(&self) -> &[Arc<SmscConnection>] {
        &self.connections
    }
}

#[async_trait]
impl Provider for SmppProvider {
    fn name(&self) -> &str {
        "smpp"
    }

    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        let destination = request.payload.step.recipient();
        let Some(connection) = self
            .routes
            .pick(&destination)
            .and_then(|i| self.connections.get(i))
        else {
            return Err(reasons::no_route(&destination).into());
        };
        connection.submit(request).await
    }
}
