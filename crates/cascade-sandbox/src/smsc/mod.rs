//! The sandbox SMSC: an SMPP 3.4 server on loopback that answers `submit_sm` and sends
//! delivery receipts as the `/sandbox/scenarios` rules script them.
//!
//! It is a peer like any SMSC: Cascade's own SMPP connector binds to it in sandbox mode,
//! and any other ESME may too (any system_id and password). What it received and the
//! receipts it owes live in the store (`sandbox_messages`, `sandbox_reports`), so a
//! restart neither forgets a receipt nor sends one twice once the ESME acknowledged it.
//!
//! Per message, not per part: the parts of a concatenated message (UDH, SAR, or one
//! `message_payload`) share one scenario and one send record; each part gets its own
//! message id and its own receipt (events with `part` script one part alone).
//!
//! - [`submit`]: grouping the parts of a message, recording it, answering each part;
//! - [`reporter`]: sending the receipts as they fall due, to the ESME that sent the message;
//! - [`receipt`]: the receipt PDU a scripted report becomes.

mod receipt;
mod reporter;
mod submit;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cascade_core::Clock;
use cascade_smpp::driver::{ConnId, ServerEvent, SmscServer};
use cascade_smpp::{BindMode, CommandStatus, SmscConfig};
use cascade_store::Store;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// Sandbox reports of the simulator are stored under `smsc-sim:<system_id>`: the receipt
/// goes to a bind of the ESME that sent the message.
pub const PROVIDER_PREFIX: &str = "smsc-sim:";

/// A running simulator.
#[derive(Debug, Clone)]
pub struct SmscSimulator {
    state: Arc<SimState>,
}

#[derive(Debug)]
struct SimState {
    server: SmscServer,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// system_id of each bound connection that can take `deliver_sm`.
    receivers: Mutex<HashMap<ConnId, String>>,
    /// system_id of every bound connection.
    systems: Mutex<HashMap<ConnId, String>>,
    /// Messages whose parts are still arriving or being answered.
    groups: Mutex<submit::Groups>,
    /// Addresses and text of each message id, for the receipt (lost on restart: a receipt
    /// then goes without them).
    originals: Mutex<HashMap<String, receipt::Original>>,
    wake_reporter: Notify,
    submits: AtomicU64,
    receipts_sent: AtomicU64,
}

impl SmscSimulator {
    /// Listens on `listen` (port 0 picks one) and runs until `stop`.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn start(
        listen: SocketAddr,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        stop: CancellationToken,
    ) -> std::io::Result<SmscSimulator> {
        let config = SmscConfig {
            system_id: "cascade-sim".into(),
            deliver_window: 100,
            ..SmscConfig::default()
        };
        let (server, events) = SmscServer::bind(listen, config).await?;
        let state = Arc::new(SimState {
            server,
            store,
            clock,
            receivers: Mutex::new(HashMap::new()),
            systems: Mutex::new(HashMap::new()),
            groups: Mutex::new(submit::Groups::new(Instant::now())),
            originals: Mutex::new(HashMap::new()),
            wake_reporter: Notify::new(),
            submits: AtomicU64::new(0),
            receipts_sent: AtomicU64::new(0),
        });
        tracing::info!(addr = %state.server.local_addr(), "sandbox SMSC listening (SMPP 3.4, any system_id/password)");
        tokio::spawn(handle_events(Arc::clone(&state), events, stop.clone()));
        tokio::spawn(reporter::run_reporter_until_stopped(
            Arc::clone(&state),
            stop.clone(),
        ));
        let server = state.server.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            server.shutdown().await;
        });
        Ok(SmscSimulator { state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.server.local_addr()
    }

    /// `submit_sm` received so far.
    pub fn submits(&self) -> u64 {
        self.state.submits.load(Ordering::Relaxed)
    }

    /// Receipts the ESMEs acknowledged so far.
    pub fn receipts_sent(&self) -> u64 {
        self.state.receipts_sent.load(Ordering::Relaxed)
    }

    /// Drops every connection without unbinding, as a failing SMSC would (for tests of
    /// link loss).
    pub fn drop_connections(&self) {
        for (conn, _) in self.state.server.connections() {
            let _ = self.state.server.disconnect(conn);
        }
    }
}

/// Binds, unbinds and submits, as the server reports them.
async fn handle_events(
    state: Arc<SimState>,
    mut events: mpsc::UnboundedReceiver<ServerEvent>,
    stop: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = events.recv() => match event { Some(e) => e, None => return },
        };
        match event {
            ServerEvent::Bound {
                conn,
                system_id,
                mode,
            } => {
                let system = system_id.to_string_lossy().into_owned();
                tracing::info!(%conn, system_id = %system, ?mode, "sandbox SMSC: ESME bound");
                lock(&state.systems).insert(conn, system.clone());
                if mode != BindMode::Transmitter {
                    lock(&state.receivers).insert(conn, system);
                    state.wake_reporter.notify_one();
                }
            }
            ServerEvent::Disconnected { conn, reason } => {
                tracing::info!(%conn, ?reason, "sandbox SMSC: ESME gone");
                lock(&state.systems).remove(&conn);
                lock(&state.receivers).remove(&conn);
            }
            ServerEvent::Submit { conn, seq, submit } => {
                state.submits.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(submit::handle_submit(Arc::clone(&state), conn, seq, submit));
            }
            ServerEvent::DataSm { conn, seq, .. } => {
                // Not a way Cascade sends; refuse rather than pretend.
                let _ = state
                    .server
                    .reject(conn, seq, CommandStatus::ESME_RINVCMDID)
                    .await;
            }
            _ => {}
        }
    }
}

/// These mutexes guard plain maps and are never held across an await; a panic while one
/// was held leaves data that is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
