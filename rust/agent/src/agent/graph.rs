//! Reading a channel's graph over HTTP: `graph.json`, checked against
//! `graph.json.sig` with the system's own key when the system is signed
//! (an unsigned build reads unsigned graphs; the bundles themselves are
//! always checked by `metalos_update` against the disk's key).

use super::Agent;
use crate::config::Channel;
use crate::host::Host;
use anyhow::{anyhow, Context, Result};
use metalos_contract::graph::{Graph, GRAPH_SIGNATURE_FILE};
use metalos_signing::{Signature, VerifyingKey};

/// A graph larger than this is refused.
const GRAPH_MAX_LEN: u64 = 8 << 20;

/// A verified graph and where it came from.
pub struct FetchedGraph {
    /// The graph.
    pub graph: Graph,
    /// Its URL.
    pub url: String,
}

impl FetchedGraph {
    /// The URL of a node's payload (relative to the graph's directory).
    pub fn payload_url(&self, payload: &str) -> String {
        if payload.starts_with("http://") || payload.starts_with("https://") {
            return payload.to_string();
        }
        let dir = &self.url[..self.url.rfind('/').map_or(self.url.len(), |i| i + 1)];
        format!("{dir}{payload}")
    }
}

impl<H: Host> Agent<H> {
    /// GETs and checks the channel's graph, counting checks and errors.
    pub(super) fn fetch_graph(&mut self, channel: &Channel, now: i64) -> Result<FetchedGraph> {
        self.metrics.update_checks_total += 1;
        self.metrics.last_refresh_timestamp = now;
        self.status.last_check = Some(now);
        let url = channel.graph_url();
        match self.fetch_verified(&url) {
            Ok(graph) => {
                self.metrics.graph_nodes_count = graph.nodes.len() as u64;
                self.metrics.graph_edges_count = graph.edges.len() as u64;
                Ok(FetchedGraph { graph, url })
            }
            Err((kind, e)) => {
                *self
                    .metrics
                    .update_checks_errors
                    .entry(kind.into())
                    .or_default() += 1;
                Err(e)
            }
        }
    }

    fn fetch_verified(&self, url: &str) -> Result<Graph, (&'static str, anyhow::Error)> {
        let bytes = self
            .http
            .get_bytes(url, GRAPH_MAX_LEN)
            .map_err(|e| ("fetch", anyhow!(e).context("reading the channel graph")))?;
        if self.paths.signing_key.exists() {
            self.verify(url, &bytes).map_err(|e| ("signature", e))?;
        }
        let text =
            std::str::from_utf8(&bytes).map_err(|_| ("parse", anyhow!("{url}: not UTF-8")))?;
        Graph::parse(text).map_err(|e| ("parse", anyhow!("{url}: {e}")))
    }

    fn verify(&self, url: &str, graph: &[u8]) -> Result<()> {
        let key_path = &self.paths.signing_key;
        let key = VerifyingKey::load(key_path)
            .with_context(|| format!("loading the system key {}", key_path.display()))?;
        let sig_url = format!(
            "{}{}",
            &url[..url.rfind('/').map_or(0, |i| i + 1)],
            GRAPH_SIGNATURE_FILE
        );
        let refuse = |why: String| {
            anyhow!(
                "{sig_url}: {why}; this system only follows graphs signed by key {} ({})",
                key.fingerprint(),
                key_path.display()
            )
        };
        let bytes = self
            .http
            .get_bytes(&sig_url, 4096)
            .map_err(|e| refuse(format!("no signature (unsigned channel?): {e}")))?;
        let sig = Signature::from_file_bytes(&bytes).map_err(|e| refuse(e.to_string()))?;
        metalos_signing::verify(&key, graph, &sig).map_err(|_| {
            refuse(
                "the signature of graph.json does not verify (another key, or a modified graph)"
                    .into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_relative_to_the_graph() {
        let g = FetchedGraph {
            graph: Graph::default(),
            url: "http://h/updates/stable/graph.json".into(),
        };
        assert_eq!(g.payload_url("2.0/"), "http://h/updates/stable/2.0/");
        assert_eq!(g.payload_url("http://x/y/"), "http://x/y/");
    }
}
