//! Prometheus metrics at `GET /metrics` (OpenMetrics text, `prometheus-client`): what an
//! operator watches. Counters and histograms are kept per process; portal sessions by state
//! are read from the database at each scrape, so every replica reports the same,
//! database-wide figures for them.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::state::AppState;

type Labels = Vec<(&'static str, String)>;

/// The process's metrics.
struct Metrics {
    registry: Registry,
    dm_message: Family<Labels, Histogram>,
    offers_shown: Counter,
    selections: Counter,
    hold_wakeups: Counter,
    held: Gauge,
    results: Family<Labels, Counter>,
    stock_bindings: Family<Labels, Counter>,
    portal_sessions: Family<Labels, Gauge>,
}

fn dm_histogram() -> Histogram {
    Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::default();
        let dm_message = Family::<Labels, Histogram>::new_with_constructor(dm_histogram as fn() -> Histogram);
        registry.register(
            "portaldm_dm_message_seconds",
            "Time the origin spent on a DM message (without the wait for the user's choice), by whether it was held",
            dm_message.clone(),
        );
        let offers_shown = Counter::default();
        registry.register("portaldm_offers_shown", "Offers listed to users entering the choice", offers_shown.clone());
        let selections = Counter::default();
        registry.register("portaldm_selections", "Packages chosen in the portal", selections.clone());
        let hold_wakeups = Counter::default();
        registry.register(
            "portaldm_hold_wakeups",
            "Wake-ups of held DM messages by a change of some portal session (not by their deadline)",
            hold_wakeups.clone(),
        );
        let held = Gauge::default();
        registry.register("portaldm_held_messages", "DM messages this process holds for a choice", held.clone());
        let results = Family::<Labels, Counter>::default();
        registry.register("portaldm_results", "Install results reported by devices, by FUMO code", results.clone());
        let stock_bindings = Family::<Labels, Counter>::default();
        registry.register(
            "portaldm_stock_bindings",
            "Stock clients' sessions (no token) by how binding them to a trigger ended",
            stock_bindings.clone(),
        );
        let portal_sessions = Family::<Labels, Gauge>::default();
        registry.register(
            "portaldm_portal_sessions",
            "Portal sessions in the database, by stored state",
            portal_sessions.clone(),
        );
        Metrics {
            registry,
            dm_message,
            offers_shown,
            selections,
            hold_wakeups,
            held,
            results,
            stock_bindings,
            portal_sessions,
        }
    })
}

/// A DM message answered after `took` of the origin's own time (`held`: it also waited for
/// the user's choice).
pub fn dm_message(took: Duration, held: bool) {
    let held = if held { "true" } else { "false" };
    metrics().dm_message.get_or_create(&vec![("held", held.to_owned())]).observe(took.as_secs_f64());
}

/// A user entered the choice with `n` offers on the page.
pub fn offers_shown(n: usize) {
    metrics().offers_shown.inc_by(n as u64);
}

/// A user chose a package.
pub fn selection() {
    metrics().selections.inc();
}

/// A held DM message woke to look at its portal session again.
pub fn hold_wakeup() {
    metrics().hold_wakeups.inc();
}

/// A device reported `code` (counted once per delivery: repeats are not recorded again).
pub fn result(code: u16) {
    metrics().results.get_or_create(&vec![("code", code.to_string())]).inc();
}

/// A stock client's session was bound (`outcome` "bound") or refused ("no_trigger",
/// "other_network", "clash").
pub fn stock_binding(outcome: &'static str) {
    metrics().stock_bindings.get_or_create(&vec![("outcome", outcome.to_owned())]).inc();
}

/// `GET /metrics`.
pub async fn render(State(st): State<AppState>) -> Response {
    let m = metrics();
    m.held.set(st.wake.waiters() as i64);
    match st.store.portal_state_counts().await {
        Ok(counts) => {
            m.portal_sessions.clear();
            for (state, n) in counts {
                m.portal_sessions.get_or_create(&vec![("state", state)]).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "portal session counts unavailable for metrics"),
    }
    let mut text = String::new();
    if encode(&mut text, &m.registry).is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "metrics could not be encoded").into_response();
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}

/// `GET /readyz`: 200 when the database answers, 503 otherwise (take the replica out).
pub async fn ready(State(st): State<AppState>) -> Response {
    match st.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}
