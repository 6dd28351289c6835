//! Cascade's HTTP API.
//!
//! [`router`] builds the whole axum application over an [`ApiState`]. Handlers turn
//! requests into domain types first (`cascade_core::flow::parse_flow` and friends), call
//! the runtime or the store, and answer in the error shape of [`error::ApiError`].

pub mod auth;
pub mod console;
pub mod error;
pub mod extract;
pub mod http_metrics;
pub mod openapi;
pub mod ratelimit;
mod routes;

use std::sync::Arc;

use axum::Router;
use cascade_core::pricing::{OperatorTable, PriceList};
use cascade_core::ttl::TtlClock;
use cascade_service::Runtime;
use cascade_service::tenancy::AdminAuth;
use cascade_store::{RateLimit, Store};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;
pub use openapi::{document as openapi_document, to_json as openapi_json};
pub use routes::sandbox::{SandboxApi, router as sandbox_router};

/// Settings the handlers need.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub prices: PriceList,
    pub operators: OperatorTable,
    pub ttl_clock: TtlClock,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Accept callback URLs on loopback, private, link-local or multicast addresses.
    pub allow_private_callbacks: bool,
    /// The per-application rate limit unless an application has its own (0 = off).
    pub rate_limit: RateLimit,
    /// This node's id (`CASCADE_NODE_ID`), and how long a node counts as live after
    /// its last heartbeat (`CASCADE_LEASE_MS`).
    pub node_id: String,
    pub lease_ms: i64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            prices: PriceList::default(),
            operators: OperatorTable::default(),
            ttl_clock: TtlClock::default(),
            body_limit: 1024 * 1024,
            allow_private_callbacks: false,
            node_id: "local".into(),
            lease_ms: 15_000,
            rate_limit: RateLimit {
                per_second: 1000,
                burst: 2000,
            },
        }
    }
}

/// What every handler shares.
#[derive(Debug)]
pub struct ApiState {
    pub runtime: Arc<Runtime>,
    pub store: Arc<dyn Store>,
    pub admin: AdminAuth,
    pub settings: ApiSettings,
    pub tokens: auth::TokenCache,
    pub limiter: ratelimit::RateLimiter,
    /// What `GET /metrics` shows: the process's own series and the collectors the
    /// server registered (connectors).
    pub metrics: prometheus_client::registry::Registry,
    /// Requests by route and status, and their latency.
    pub http: http_metrics::HttpMetrics,
    /// Provider sections' webhook receivers, by section name.
    pub webhooks: std::collections::HashMap<String, Arc<dyn cascade_core::ports::WebhookReceiver>>,
    /// Where providers reach Cascade (`CASCADE_PUBLIC_URL`), without a trailing `/`.
    pub public_url: String,
}

impl ApiState {
    pub fn new(runtime: Arc<Runtime>, admin: AdminAuth, settings: ApiSettings) -> Self {
        let store = Arc::clone(runtime.store());
        let limiter = ratelimit::RateLimiter::new(settings.rate_limit);
        let mut metrics = process_metrics(&settings.node_id);
        metrics.register_collector(Box::new(InboundCollector {
            runtime: Arc::clone(&runtime),
        }));
        runtime.flow_metrics().register(&mut metrics);
        let http = http_metrics::HttpMetrics::default();
        http.register(&mut metrics);
        Self {
            runtime,
            store,
            admin,
            settings,
            tokens: auth::TokenCache::default(),
            limiter,
            metrics,
            http,
            webhooks: std::collections::HashMap::new(),
            public_url: String::new(),
        }
    }

    /// Serves the providers' webhooks at `/webhooks/{name}`; `public_url` is the base
    /// URL the providers were given (some sign the full URL).
    #[must_use]
    pub fn with_webhooks(
        mut self,
        public_url: &str,
        receivers: Vec<Arc<dyn cascade_core::ports::WebhookReceiver>>,
    ) -> Self {
        self.public_url = public_url.trim_end_matches('/').to_owned();
        self.webhooks = receivers
            .into_iter()
            .map(|r| (r.name().to_owned(), r))
            .collect();
        self
    }

    /// Adds a collector (a connector's metrics) to `GET /metrics`.
    #[must_use]
    pub fn with_metrics(
        mut self,
        collector: Box<dyn prometheus_client::collector::Collector>,
    ) -> Self {
        self.metrics.register_collector(collector);
        self
    }
}

/// `cascade_inbound_total{channel, matched}` and `cascade_provider_cost_total{provider,
/// currency}`, read from the runtime when scraped.
#[derive(Debug)]
struct InboundCollector {
    runtime: Arc<Runtime>,
}

impl prometheus_client::collector::Collector for InboundCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let mut family = encoder.encode_descriptor(
            "cascade_inbound",
            "Replies from recipients recorded, by channel and whether a flow they answer was found.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for channel in [cascade_core::Channel::Sms, cascade_core::Channel::Viber] {
            for matched in [true, false] {
                let name = channel.to_string();
                let labels = [
                    ("channel", name.as_str()),
                    ("matched", if matched { "true" } else { "false" }),
                ];
                prometheus_client::metrics::counter::ConstCounter::new(
                    self.runtime.inbound_count(channel, matched),
                )
                .encode(family.encode_family(&labels)?)?;
            }
        }
        let costs = self.runtime.provider_costs();
        if !costs.is_empty() {
            let mut family = encoder.encode_descriptor(
                "cascade_provider_cost",
                "What providers said they charged, by provider and currency (informational: tracking prices come from Cascade's price list).",
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (provider, currency, amount) in &costs {
                let labels = [
                    ("provider", provider.as_str()),
                    ("currency", currency.as_str()),
                ];
                prometheus_client::metrics::counter::ConstCounter::new(*amount)
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// A registry holding the process's own series: `cascade_up`, and `cascade_node_info`
/// naming this node (several nodes may serve one deployment).
fn process_metrics(node_id: &str) -> prometheus_client::registry::Registry {
    use prometheus_client::metrics::family::Family;
    let mut registry = prometheus_client::registry::Registry::default();
    let up = prometheus_client::metrics::gauge::Gauge::<i64>::default();
    up.set(1);
    registry.register("cascade_up", "1 while the process serves.", up);
    let info = Family::<Vec<(String, String)>, prometheus_client::metrics::gauge::Gauge>::default();
    info.get_or_create(&vec![("node".to_owned(), node_id.to_owned())])
        .set(1);
    registry.register(
        "cascade_node_info",
        "This node (CASCADE_NODE_ID): always 1.",
        info,
    );
    registry
}

impl ApiState {}

/// The application's routes (everything but the sandbox's), each registered with its
/// OpenAPI description.
pub(crate) fn api_routes() -> OpenApiRouter<Arc<ApiState>> {
    use routes::{accounts, admin, callbacks, failover, health, inbound, nodes, search};
    use routes::{tracking, webhooks};
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(auth::issue_token))
        .routes(routes!(failover::send_flow))
        .routes(routes!(search::search))
        .routes(routes!(tracking::get_tracking))
        .routes(routes!(tracking::get_events))
        .routes(routes!(accounts::balance))
        .routes(routes!(admin::create_account))
        .routes(routes!(admin::get_account))
        .routes(routes!(admin::create_application))
        .routes(routes!(admin::set_balance))
        .routes(routes!(admin::add_viber_sender))
        .routes(routes!(admin::rotate_webhook_secret))
        .routes(routes!(callbacks::list))
        .routes(routes!(inbound::list))
        .routes(routes!(nodes::list))
        .routes(routes!(callbacks::redeliver))
        .routes(routes!(callbacks::redeliver_flow))
        .routes(routes!(webhooks::receive))
        .routes(routes!(webhooks::receive_with_token))
        .routes(routes!(health::healthz))
        .routes(routes!(health::metrics))
        .routes(routes!(health::readyz))
}

/// The whole API, with its description at `GET /openapi.json` and Swagger UI at
/// `GET /docs` (served from the binary).
pub fn router(state: Arc<ApiState>) -> Router {
    let sandbox = Arc::new(SandboxApi {
        store: Arc::clone(&state.store),
        clock: Arc::clone(state.runtime.clock()),
        admin: Some(state.admin.clone()),
        body_limit: state.settings.body_limit,
    });
    let console = console::router(Arc::clone(&state));
    let (api, _) = api_routes().split_for_parts();
    let docs = utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", openapi::document());
    api.route_layer(axum::middleware::from_fn_with_state(
        state.http.clone(),
        http_metrics::track,
    ))
    .with_state(state)
    .merge(routes::sandbox::router(sandbox))
    .merge(docs)
    .merge(console)
    .fallback(routes::health::no_route)
    .method_not_allowed_fallback(routes::health::no_method)
}
