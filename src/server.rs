//! The HTTP server: state, router, guards on raw requests, start and graceful stop.

use crate::api::rest;
use crate::app::{shell, App};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::services::Services;
use crate::worker;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::OnceLock;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

/// The app's routes, generated once per process. leptos keeps resources from
/// loading during generation with one process-wide flag (leptos-rs/leptos#4773),
/// so generating them again while another instance in the process renders pages
/// could stall that render or run its resources without the app's state.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(state: AppState) -> Router {
    let routes = route_list();
    let leptos_options = state.leptos_options.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .nest_service(&format!("/{}", leptos_options.site_pkg_dir), client_files(&leptos_options))
        .merge(rest::routes())
        .leptos_routes(&state, routes, move || shell(leptos_options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(renew_session_cookies))
        .layer(middleware::from_fn_with_state(state.clone(), refuse_cross_origin_changes))
        // Outermost, so that every early refusal (this check's too) drains the body.
        .layer(middleware::from_fn_with_state(state.clone(), crate::body_limits::guard_request_bodies))
        // Outside the body guard, so its refusals are counted and timed too.
        .layer(middleware::from_fn(crate::telemetry::count_requests))
        .with_state(state)
}

/// The WASM client, its JS and the CSS: the Brotli or gzip file that cargo-leptos
/// precompressed when the browser accepts it. Hashed names change with the content,
/// so those may be cached for good; unhashed ones (a debug build) are revalidated.
fn client_files(options: &LeptosOptions) -> axum::routing::MethodRouter {
    use tower_http::services::ServeDir;
    use tower_http::set_header::SetResponseHeaderLayer;
    let dir = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let cache_control = if options.hash_files { "public, max-age=31536000, immutable" } else { "no-cache" };
    axum::routing::get_service(ServeDir::new(dir).precompressed_br().precompressed_gzip())
        .layer::<_, std::convert::Infallible>(SetResponseHeaderLayer::overriding(http::header::CACHE_CONTROL, http::HeaderValue::from_static(cache_control)))
        .layer::<_, std::convert::Infallible>(SetResponseHeaderLayer::appending(http::header::VARY, http::HeaderValue::from_static("accept-encoding")))
}

/// `GET /healthz`: 200 after a real database round trip, 503 when the database is away.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.services.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(error) => {
            error!(%error, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Login CSRF and every other cross-site state change stop here, before any
/// handler or server function runs (see `auth::may_change_state`).
async fn refuse_cross_origin_changes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    use leptos::server_fn::ServerFn;
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let starts_session = path == crate::api::accounts::SignIn::PATH || path == crate::api::accounts::SignUp::PATH;
    if !crate::auth::may_change_state(&state.services, &parts, starts_session) {
        info!(method = %parts.method, path = parts.uri.path(), "cross-origin state change refused");
        return rest::error_response(crate::error::ImportError::CrossOrigin);
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Gives the response the renewed session cookie that authenticating the request
/// asked for (`auth::SessionRefresh`), unless the response sets a cookie itself.
async fn renew_session_cookies(mut request: Request, next: Next) -> Response {
    let refresh = crate::auth::SessionRefresh::default();
    request.extensions_mut().insert(refresh.clone());
    let mut response = next.run(request).await;
    if let Some(cookie) = refresh.cookie() {
        if !response.headers().contains_key(http::header::SET_COOKIE) {
            if let Ok(value) = http::HeaderValue::from_str(cookie) {
                response.headers_mut().insert(http::header::SET_COOKIE, value);
            }
        }
    }
    response
}

/// Serves `app` until `stopped` turns true, then lets its requests finish.
async fn serve_until_stopped(listener: TcpListener, app: Router, mut stopped: watch::Receiver<bool>, what: &'static str) {
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        })
        .await;
    if let Err(error) = served {
        error!(%error, what, "stopped with an error");
    }
}

/// How often histogram samples are folded into their buckets between scrapes.
const METRICS_UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A server bound to a port with its workers; `stop` ends both gracefully.
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    shutdown_timeout: std::time::Duration,
}

impl RunningServer {
    pub async fn start(services: Services, leptos_options: LeptosOptions, listener: TcpListener) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let shutdown_timeout = services.config.shutdown_timeout;
        let instance_id = services.store.instance_id().to_owned();
        let (shutdown, stopped) = watch::channel(false);
        // Contacts from before identities get theirs before any import of this instance runs.
        worker::backfill_identities(services.store.as_ref(), services.config.import_max_values_per_contact as usize).await.map_err(std::io::Error::other)?;
        worker::beat(&services, &instance_id, None).await.map_err(std::io::Error::other)?;
        let mut tasks = worker::spawn(services.clone(), instance_id.clone(), stopped.clone());
        tasks.spawn(crate::sweeper::sweep_loop(services.clone(), stopped.clone()));
        let app = router(AppState { leptos_options, services });
        tasks.spawn(serve_until_stopped(listener, app, stopped, "server"));
        info!(%addr, instance_id, "listening");
        Ok(Self { addr, shutdown, tasks, shutdown_timeout })
    }

    /// Serves `GET /metrics` (the Prometheus text format) that `handle` renders on
    /// its own listener until the server stops.
    pub fn serve_metrics(&mut self, listener: TcpListener, handle: PrometheusHandle) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        let rendering = handle.clone();
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let text = rendering.render();
                async move { ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text) }
            }),
        );
        self.tasks.spawn(serve_until_stopped(listener, app, self.shutdown.subscribe(), "metrics server"));
        // Histogram samples wait in buckets until drained; a scrape drains them too.
        let mut stop_upkeep = self.shutdown.subscribe();
        self.tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(METRICS_UPKEEP_EVERY) => handle.run_upkeep(),
                    _ = stop_upkeep.wait_for(|stop| *stop) => break,
                }
            }
        });
        info!(%addr, "serving metrics");
        Ok(())
    }

    /// Stops accepting connections and work, lets the current batches commit and
    /// hands their imports back. Requests and runs still going after twice the
    /// shutdown timeout (the batches' time, then the hand-back's) are cut off.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let drained = tokio::time::timeout(self.shutdown_timeout * 2, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(remaining = self.tasks.len(), "cutting off what still runs after the shutdown timeout");
            self.tasks.shutdown().await;
        }
    }
}

/// `intake serve`: runs until SIGINT or SIGTERM, then finishes the current batches and stops.
pub async fn serve(mut config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let leptos_config = leptos_configuration()?;
    let addr = *config.addr.get_or_insert(leptos_config.leptos_options.site_addr);
    // The recorder goes in before anything is counted, the start's first heartbeat included.
    let metrics = match config.metrics_addr {
        Some(metrics_addr) => Some((TcpListener::bind(metrics_addr).await?, crate::telemetry::recorder()?)),
        None => None,
    };
    let store = crate::store::connect_with(&config.database_url, &config.timeouts()).await?;
    info!(backend = ?store.backend(), "database ready");
    let services = Services::new(store.clone(), std::sync::Arc::new(SystemClock), config);
    let listener = TcpListener::bind(addr).await?;
    let mut server = RunningServer::start(services, leptos_config.leptos_options, listener).await?;
    if let Some((listener, handle)) = metrics {
        server.serve_metrics(listener, handle)?;
    }
    shutdown_signal().await;
    info!("shutting down");
    server.stop().await;
    store.close().await;
    info!("stopped");
    Ok(())
}

/// The Leptos settings: `LEPTOS_*` variables over the defaults compiled in (the
/// output name comes from `.cargo/config.toml`), so the binary runs from any directory.
/// A build with `hash-files` leaves its hash file beside the binary; its presence turns
/// hashed names on however the binary was started (cargo-leptos sets the variable only
/// for the binaries it runs itself).
pub fn leptos_configuration() -> Result<leptos::config::ConfFile, leptos::config::errors::LeptosConfigError> {
    let mut configuration = get_configuration(None)?;
    let options = &mut configuration.leptos_options;
    let beside_binary = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join(&*options.hash_file)));
    if beside_binary.is_some_and(|hash_file| hash_file.is_file()) {
        options.hash_files = true;
    }
    Ok(configuration)
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
