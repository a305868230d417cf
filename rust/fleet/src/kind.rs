//! The fixed set of error kinds the server answers with (`{"kind",
//! "value"}`), each with its HTTP status. FleetLock requires servers to
//! keep `kind` bounded, since clients use it as a metrics label.

/// An error kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// 400: the `fleet-lock-protocol: true` header is missing or not `true`.
    MissingHeader,
    /// 400: the body is not JSON of the expected shape (or is too large).
    DecodeError,
    /// 400: `client_params.id` or `group` is empty, or the group is not
    /// `^[a-zA-Z0-9.-]+$`.
    InvalidClientParams,
    /// 400: a report's `booted` is empty, or its `target` is an empty string.
    InvalidReport,
    /// 404: no such endpoint.
    NotFound,
    /// 405: the endpoint exists but not with this method.
    MethodNotAllowed,
    /// 409: the host's last report targets a halted release.
    ReleaseHalted,
    /// 423: every reboot slot of the group is held (the spec's example
    /// kind; poseidon also answers 423, airlock 500 `failed_lock`).
    SemaphoreFull,
    /// 503: no etcd endpoint could serve the request; nothing was granted.
    EtcdUnavailable,
    /// 503: the semaphore kept changing under concurrent writers for every
    /// try; nothing was granted.
    Conflict,
    /// 500: etcd refused a request or holds a value the server cannot read.
    InternalError,
}

impl Kind {
    /// Every kind, in documentation order.
    pub const ALL: [Kind; 11] = [
        Kind::MissingHeader,
        Kind::DecodeError,
        Kind::InvalidClientParams,
        Kind::InvalidReport,
        Kind::NotFound,
        Kind::MethodNotAllowed,
        Kind::ReleaseHalted,
        Kind::SemaphoreFull,
        Kind::EtcdUnavailable,
        Kind::Conflict,
        Kind::InternalError,
    ];

    /// The `kind` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MissingHeader => "missing_header",
            Kind::DecodeError => "decode_error",
            Kind::InvalidClientParams => "invalid_client_params",
            Kind::InvalidReport => "invalid_report",
            Kind::NotFound => "not_found",
            Kind::MethodNotAllowed => "method_not_allowed",
            Kind::ReleaseHalted => "release_halted",
            Kind::SemaphoreFull => "failed_lock_semaphore_full",
            Kind::EtcdUnavailable => "etcd_unavailable",
            Kind::Conflict => "conflict",
            Kind::InternalError => "internal_error",
        }
    }

    /// The HTTP status answered with it.
    pub fn status(self) -> u16 {
        match self {
            Kind::MissingHeader
            | Kind::DecodeError
            | Kind::InvalidClientParams
            | Kind::InvalidReport => 400,
            Kind::NotFound => 404,
            Kind::MethodNotAllowed => 405,
            Kind::ReleaseHalted => 409,
            Kind::SemaphoreFull => 423,
            Kind::EtcdUnavailable | Kind::Conflict => 503,
            Kind::InternalError => 500,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_distinct_and_errors() {
        let names: std::collections::BTreeSet<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
        for k in Kind::ALL {
            assert!((400..600).contains(&k.status()), "{k}");
            assert!(k
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }
}
