//! What each request gets: method and path dispatch, the FleetLock checks
//! (header, body, client parameters) and the calls into the semaphores
//! and reports. Independent of the HTTP library.

use serde::Deserialize;
use serde_json::json;

use super::State;
use crate::admin::{self, LogEntry};
use crate::config::is_valid_group;
use crate::hosts::{HostsError, Report};
use crate::kind::Kind;
use crate::semaphore::{LockOutcome, SemaphoreError, UnlockOutcome};

/// The endpoints (the `endpoint` metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// `POST /v1/pre-reboot`.
    PreReboot,
    /// `POST /v1/steady-state`.
    SteadyState,
    /// `POST /metalos/v1/report`.
    Report,
    /// `GET /metrics`.
    Metrics,
    /// `GET /-/healthy`.
    Healthy,
    /// Anything else.
    Other,
}

impl Endpoint {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::PreReboot => "pre-reboot",
            Endpoint::SteadyState => "steady-state",
            Endpoint::Report => "report",
            Endpoint::Metrics => "metrics",
            Endpoint::Healthy => "healthy",
            Endpoint::Other => "other",
        }
    }
}

/// A request, as far as the routes look at it.
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path, query string included.
    pub url: &'a str,
    /// The value of the `fleet-lock-protocol` header, if sent.
    pub fleet_lock_header: Option<&'a str>,
    /// The body, or `None` when it was larger than the limit.
    pub body: Option<&'a [u8]>,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `content-type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// The error kind, `None` on success (the `kind` label is then `ok`).
    pub kind: Option<Kind>,
}

impl Reply {
    fn json(value: serde_json::Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
            kind: None,
        }
    }

    fn text(body: String) -> Reply {
        Reply {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: body.into_bytes(),
            kind: None,
        }
    }

    /// A FleetLock error document `{"kind", "value"}`.
    pub fn error(kind: Kind, value: impl Into<String>) -> Reply {
        Reply {
            status: kind.status(),
            content_type: "application/json",
            body: json!({"kind": kind.as_str(), "value": value.into()})
                .to_string()
                .into_bytes(),
            kind: Some(kind),
        }
    }
}

/// `client_params`; missing fields read as empty (and are refused as
/// invalid, like empty ones).
#[derive(Deserialize)]
struct ClientParams {
    #[serde(default)]
    id: String,
    #[serde(default)]
    group: String,
}

/// The body of the FleetLock endpoints.
#[derive(Deserialize)]
struct LockBody {
    client_params: ClientParams,
}

/// The body of `/metalos/v1/report`.
#[derive(Deserialize)]
struct ReportBody {
    client_params: ClientParams,
    #[serde(flatten)]
    report: Report,
}

/// The endpoint `request` is for and its answer.
pub fn handle(state: &State, request: &Request) -> (Endpoint, Reply) {
    let path = request.url.split('?').next().unwrap_or("");
    let (endpoint, method) = match path {
        "/v1/pre-reboot" => (Endpoint::PreReboot, "POST"),
        "/v1/steady-state" => (Endpoint::SteadyState, "POST"),
        "/metalos/v1/report" => (Endpoint::Report, "POST"),
        "/metrics" => (Endpoint::Metrics, "GET"),
        "/-/healthy" => (Endpoint::Healthy, "GET"),
        _ => {
            let reply = Reply::error(Kind::NotFound, format!("no endpoint {path}"));
            return (Endpoint::Other, reply);
        }
    };
    if request.method != method && !(method == "GET" && request.method == "HEAD") {
        let value = format!("{path} takes {method}, not {}", request.method);
        return (endpoint, Reply::error(Kind::MethodNotAllowed, value));
    }
    let reply = match endpoint {
        Endpoint::Metrics => Reply::text(state.metrics.render(state)),
        Endpoint::Healthy => Reply::text("ok\n".into()),
        _ => fleet_lock(state, endpoint, request).unwrap_or_else(|e| e),
    };
    (endpoint, reply)
}

/// The POST endpoints: header, body, then the action.
fn fleet_lock(state: &State, endpoint: Endpoint, request: &Request) -> Result<Reply, Reply> {
    let header = request.fleet_lock_header.map(str::trim);
    if !header.is_some_and(|h| h.eq_ignore_ascii_case("true")) {
        return Err(Reply::error(
            Kind::MissingHeader,
            "the header `fleet-lock-protocol: true` is required",
        ));
    }
    let body = request
        .body
        .ok_or_else(|| Reply::error(Kind::DecodeError, "body larger than 64 KiB"))?;
    let decode_error = |e: serde_json::Error| Reply::error(Kind::DecodeError, format!("body: {e}"));
    match endpoint {
        Endpoint::Report => {
            let b: ReportBody = serde_json::from_slice(body).map_err(decode_error)?;
            let (id, group) = client_params(&b.client_params)?;
            report(state, id, group, &b.report)
        }
        _ => {
            let b: LockBody = serde_json::from_slice(body).map_err(decode_error)?;
            let (id, group) = client_params(&b.client_params)?;
            if endpoint == Endpoint::PreReboot {
                pre_reboot(state, id, group)
            } else {
                steady_state(state, id, group)
            }
        }
    }
}

/// The id and group, both non-empty, the group valid.
fn client_params(p: &ClientParams) -> Result<(&str, &str), Reply> {
    if p.id.is_empty() {
        return Err(Reply::error(
            Kind::InvalidClientParams,
            "client_params.id is empty",
        ));
    }
    if !is_valid_group(&p.group) {
        let value = format!(
            "client_params.group {:?} must be one or more of letters, digits, '.' and '-'",
            p.group
        );
        return Err(Reply::error(Kind::InvalidClientParams, value));
    }
    Ok((&p.id, &p.group))
}

/// Takes a slot, unless the host's target is halted.
fn pre_reboot(state: &State, id: &str, group: &str) -> Result<Reply, Reply> {
    if let Some(halt) = state.hosts.halted_target(id).map_err(hosts_error)? {
        eprintln!(
            "refused {id} (group {group}): its target {} is halted",
            halt.version
        );
        let value = format!(
            "release {} is halted: {} host(s) failed it; `metalos fleet resume {}` lifts the halt",
            halt.version,
            halt.reports.len(),
            halt.version
        );
        return Err(Reply::error(Kind::ReleaseHalted, value));
    }
    let slots = state.config.slots_for(group);
    match state
        .semaphores
        .lock(group, id, slots, admin::unix_now())
        .map_err(semaphore_error)?
    {
        LockOutcome::Granted => {
            eprintln!("granted a slot of group {group} to {id}");
            Ok(Reply::json(json!({"result": "granted"})))
        }
        LockOutcome::AlreadyHeld => Ok(Reply::json(json!({"result": "held"}))),
        LockOutcome::Full { total_slots, .. } => Err(Reply::error(
            Kind::SemaphoreFull,
            format!("all {total_slots} reboot slots of group {group} are held"),
        )),
    }
}

/// Releases the host's slot, if it holds one.
fn steady_state(state: &State, id: &str, group: &str) -> Result<Reply, Reply> {
    let slots = state.config.slots_for(group);
    match state
        .semaphores
        .unlock(group, id, Some(slots))
        .map_err(semaphore_error)?
    {
        UnlockOutcome::Released => {
            eprintln!("released the slot of {id} in group {group}");
            Ok(Reply::json(json!({"result": "released"})))
        }
        UnlockOutcome::NotHeld => Ok(Reply::json(json!({"result": "not-held"}))),
    }
}

/// Stores a report; logs a halt it causes.
fn report(state: &State, id: &str, group: &str, r: &Report) -> Result<Reply, Reply> {
    if r.booted.is_empty() || r.target.as_deref() == Some("") {
        return Err(Reply::error(
            Kind::InvalidReport,
            "booted must be a version, target a version or null",
        ));
    }
    let now = admin::unix_now();
    let halt = state
        .hosts
        .report(id, group, r, now, state.config.halt_after)
        .map_err(hosts_error)?;
    let Some(halt) = halt else {
        return Ok(Reply::json(json!({"result": "recorded"})));
    };
    let ids: Vec<&str> = halt.reports.iter().map(|r| r.id.as_str()).collect();
    let detail = format!("halted {}: failed on {}", halt.version, ids.join(", "));
    eprintln!("{detail}");
    let entry = LogEntry {
        at: now,
        action: "halt".into(),
        detail,
        by: state.name.clone(),
    };
    if let Err(e) = admin::log(&state.etcd, &entry) {
        eprintln!("logging the halt: {e}");
    }
    Ok(Reply::json(
        json!({"result": "recorded", "halted": halt.version}),
    ))
}

fn semaphore_error(e: SemaphoreError) -> Reply {
    eprintln!("{e}");
    let kind = match &e {
        SemaphoreError::Etcd(e) if e.is_unavailable() => Kind::EtcdUnavailable,
        SemaphoreError::Conflict { .. } => Kind::Conflict,
        _ => Kind::InternalError,
    };
    Reply::error(kind, e.to_string())
}

fn hosts_error(e: HostsError) -> Reply {
    eprintln!("{e}");
    let kind = match &e {
        HostsError::Etcd(e) if e.is_unavailable() => Kind::EtcdUnavailable,
        _ => Kind::InternalError,
    };
    Reply::error(kind, e.to_string())
}
