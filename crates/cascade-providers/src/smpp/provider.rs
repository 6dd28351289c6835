//! [`SmppProvider`]: the SMS provider, routing each step to one SMSC by destination.

use std::sync::Arc;

use async_trait::async_trait;
use cascade_core::ports::{Accepted, Provider, SubmitError, SubmitRequest};
use cascade_core::reasons;

use super::connection::SmscConnection;
use crate::http::failover::route_order;

/// SMS over SMPP without failover: each step goes to the first SMSC its destination
/// routes to (priority, then the longest prefix: [`route_order`]). The server puts its
/// SMSCs in a [`ChannelProviders`](crate::http::failover::ChannelProviders) instead, which
/// also fails over between them; this is the connector on its own (tools, tests).
#[derive(Debug)]
pub struct SmppProvider {
    connections: Vec<Arc<SmscConnection>>,
}

impl SmppProvider {
    /// `connections` in configuration order.
    pub fn new(connections: Vec<Arc<SmscConnection>>) -> SmppProvider {
        SmppProvider { connections }
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
        let order = route_order(
            self.connections
                .iter()
                .map(|c| (c.settings.priority, c.settings.routes.as_slice())),
            &destination,
        );
        let Some(connection) = order.first().and_then(|&i| self.connections.get(i)) else {
            return Err(reasons::no_route(&destination).into());
        };
        connection.submit(request).await
    }
}

/// One SMSC connection as a provider of its own, for [`ChannelProviders`]
/// (crate::http::failover::ChannelProviders): it is tried only for destinations its
/// routes match.
#[async_trait]
impl Provider for SmscConnection {
    fn name(&self) -> &str {
        &self.settings.name
    }

    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        SmscConnection::submit(self, request).await
    }

    /// A bind that can transmit is up.
    fn ready(&self) -> bool {
        self.has_bound_transmitter()
    }

    /// At least one bind slot is this node's.
    fn held_here(&self) -> bool {
        self.slots_held() > 0
    }

    fn states(&self) -> Vec<cascade_core::ports::ProviderState> {
        let binds = self.binds();
        let bound = binds
            .iter()
            .filter(|(_, c)| c.state() == cascade_smpp::driver::BindState::Bound)
            .count();
        vec![cascade_core::ports::ProviderState {
            name: self.settings.name.clone(),
            ready: self.ready(),
            held_here: self.held_here(),
            circuit: None,
            detail: format!(
                "{}:{}, binds: {} of {} slots held here, {bound} bound",
                self.settings.host,
                self.settings.port,
                self.slots_held(),
                self.settings.binds,
            ),
        }]
    }
}
