//! The routes: predict, the model's facts, health, readiness, metrics, reload; and the JSON
//! error every failure answers with.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;
use tokio::sync::oneshot;

use super::batcher::{Job, Scored};
use super::request::{self, RequestLimits};
use super::Shared;
use crate::cli::prediction_json::{binary_explained_json, binary_json, class_json};

/// A failed request: its status and a message that says what to change.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    /// `{"error": message, "status": code}`.
    fn into_response(self) -> Response {
        let body = json!({"error": self.message, "status": self.status.as_u16()});
        json_response(self.status, body.to_string())
    }
}

/// How many texts a response scored, for the access log.
#[derive(Clone, Copy)]
pub(crate) struct TextsScored(pub(crate) usize);

/// The routes. `/v1/reload` exists only with `--admin`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new()
        .route("/v1/predict", post(predict))
        .route("/v1/model", get(model))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if shared.settings.admin {
        router = router.route("/v1/reload", post(reload));
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

/// The metrics label of a path: one of the routes, or "other" (a client cannot grow the
/// label set).
pub(crate) fn route_label(path: &str) -> &'static str {
    const ROUTES: [&str; 6] = [
        "/v1/predict",
        "/v1/model",
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/reload",
    ];
    ROUTES.into_iter().find(|r| *r == path).unwrap_or("other")
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {}; the routes are POST /v1/predict, GET /v1/model, GET /healthz, GET \
             /readyz, GET /metrics (and POST /v1/reload with --admin)",
            request.uri().path()
        ),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    let path = request.uri().path();
    let allowed = match path {
        "/v1/predict" | "/v1/reload" => "POST",
        _ => "GET",
    };
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} {path} is not allowed; use {allowed}", request.method()),
    )
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, json!({"status": "ok"}).to_string())
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.draining.load(Ordering::Relaxed) {
        let body = json!({"status": "shutting down"}).to_string();
        return json_response(StatusCode::SERVICE_UNAVAILABLE, body);
    }
    let model = shared.model.current();
    let body = json!({
        "status": "ready",
        "model": model.facts.path,
        "generation": model.facts.generation,
    });
    json_response(StatusCode::OK, body.to_string())
}

async fn model(State(shared): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, shared.model.current().report.clone())
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let text = shared.metrics.render(&shared.model.current().facts);
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

/// `POST /v1/reload` (with `--admin`): what SIGHUP does, answered.
async fn reload(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let generation = reload_model(Arc::clone(&shared)).await?;
    let body = json!({"reloaded": true, "generation": generation}).to_string();
    Ok(json_response(StatusCode::OK, body))
}

/// Reloads the model off the event loop and logs the outcome; returns the new generation.
/// A file that does not load is refused: the old model keeps serving.
pub(crate) async fn reload_model(shared: Arc<Shared>) -> Result<u64, ApiError> {
    let task = Arc::clone(&shared);
    let outcome = tokio::task::spawn_blocking(move || task.model.reload())
        .await
        .map_err(|e| ApiError::internal(format!("the reload stopped: {e}")))?;
    let path = shared.model.path().display().to_string();
    match outcome {
        Ok(loaded) => {
            let fields = [
                ("model", path.into()),
                ("generation", loaded.facts.generation.into()),
                ("seconds", loaded.facts.load_seconds.into()),
            ];
            shared.log.event("reloaded", &fields);
            Ok(loaded.facts.generation)
        }
        Err(e) => {
            let serving = shared.model.current().facts.generation;
            let message = format!(
                "the model file was not reloaded: {e:#}; still serving the model loaded before \
                 (generation {serving})"
            );
            shared
                .log
                .event("reload-failed", &[("error", message.clone().into())]);
            Err(ApiError::internal(message))
        }
    }
}

async fn predict(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    match scored_answer(&shared, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// Reads the request, has its texts scored (batched with others), answers with the JSON
/// objects `predict --json` prints.
async fn scored_answer(shared: &Shared, request: Request) -> Result<Response, ApiError> {
    let limits = shared.settings.request;
    let body = read_body(request, &limits).await?;
    let request = request::parse(&body, &limits)?;
    drop(body);
    let model = shared.model.current();
    let options = request.options(&model.model)?;
    let count = request.texts.len();
    let (reply, answer) = oneshot::channel();
    shared.batcher.submit(Job {
        model,
        texts: request.texts,
        explain: request.explain.then_some(options.explain_class),
        reply,
    });
    let scored = answer
        .await
        .map_err(|_| ApiError::internal("the scoring worker stopped"))?
        .map_err(ApiError::internal)?;
    let lines = json_lines(&scored, options.top_k)
        .map_err(|e| ApiError::internal(format!("cannot write the answer: {e}")))?;
    let body = if request.single {
        lines.into_iter().next().unwrap_or_default()
    } else {
        format!("{{\"predictions\":[{}]}}", lines.join(","))
    };
    let mut response = json_response(StatusCode::OK, body);
    response.extensions_mut().insert(TextsScored(count));
    Ok(response)
}

/// The body, at most `max_body_bytes`: a larger declared length is refused before reading,
/// a longer stream as soon as it passes the limit.
async fn read_body(request: Request, limits: &RequestLimits) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::too_large(format!(
            "the body is larger than the limit of {} bytes (--max-body-bytes)",
            limits.max_body_bytes
        ))
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let body: Body = request.into_body();
    match Limited::new(body, limits.max_body_bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(format!("cannot read the body: {e}"))),
    }
}

/// One `predict --json` object per text, in input order.
fn json_lines(scored: &Scored, top_k: Option<usize>) -> anyhow::Result<Vec<String>> {
    let model = &scored.model.model;
    let threshold = model.threshold();
    let mut lines = Vec::with_capacity(scored.texts.len());
    for (i, (text, row)) in scored
        .texts
        .iter()
        .zip(scored.probabilities.rows())
        .enumerate()
    {
        let row = row.to_vec();
        let e = scored.explanations.get(i);
        let line = match (model.is_binary(), e) {
            (true, Some(e)) => binary_explained_json(text, e, threshold)?,
            (true, None) => binary_json(text, row[0], threshold)?,
            (false, e) => class_json(text, model.classes(), &row, top_k, e)?,
        };
        lines.push(line);
    }
    Ok(lines)
}
