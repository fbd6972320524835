//! The control protocol: the one definition of what `natrix stats`,
//! `natrix backend`, `natrix reload`, `natrix top` and the metrics listener
//! ask, and of what the management loop answers. Both sides serialise these
//! types; nothing else builds or reads a request or a reply.
//!
//! On the socket every request and every reply is one line of JSON:
//!
//! ```text
//! {"version":1,"command":"backend-drain","pool":"web","address":"198.19.1.11:8080"}
//! {"version":1,"ok":true,"result":{"message":"draining 198.19.1.11:8080 in pool \"web\""}}
//! {"version":1,"ok":false,"error":"no pool named \"nope\""}
//! ```

use crate::dataplane::snapshot::BackendStatus;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// Version of the control protocol.
pub const PROTOCOL_VERSION: u32 = 1;

// ------------------------------------------------------------------ requests

/// A request: `{"version": 1, "command": "...", ...}`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct Request {
    pub version: u32,
    #[serde(flatten)]
    pub command: Command,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Command {
    /// Statistics snapshot.
    Stats,
    /// Add a backend to a pool.
    BackendAdd {
        pool: String,
        address: String,
        #[serde(default = "one")]
        weight: u32,
        /// Destination MAC; defaults to the pool's other backends' next hop.
        mac: Option<String>,
    },
    /// Remove a backend: its connections are dropped.
    BackendRemove { pool: String, address: String },
    /// Weight 0: keeps its connections, takes no new ones.
    BackendDrain { pool: String, address: String },
    /// Set a backend's weight.
    BackendWeight {
        pool: String,
        address: String,
        weight: u32,
    },
    /// Re-read the configuration file.
    Reload,
    /// Send a gratuitous ARP or an unsolicited Neighbor Advertisement for
    /// every frontend and own address.
    Announce,
}

fn one() -> u32 {
    1
}

impl Request {
    /// A request of this protocol version.
    pub fn new(command: Command) -> Request {
        Request {
            version: PROTOCOL_VERSION,
            command,
        }
    }

    /// Reads one request line. The version is checked before the command, so
    /// that a client of another version hears about the version.
    pub fn parse(line: &str) -> Result<Request, RequestError> {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| RequestError::Malformed(e.to_string()))?;
        match v.get("version").and_then(|x| x.as_u64()) {
            Some(n) if n == u64::from(PROTOCOL_VERSION) => {}
            Some(n) => return Err(RequestError::Version(n)),
            None => return Err(RequestError::NoVersion),
        }
        serde_json::from_value(v).map_err(|e| RequestError::Invalid(e.to_string()))
    }
}

/// Why a request got no answer from the management loop. Travels to the
/// client as the reply's `error` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Not JSON.
    Malformed(String),
    /// Another protocol version.
    Version(u64),
    NoVersion,
    /// JSON, but not a request this natrix knows.
    Invalid(String),
    /// A line longer than the socket accepts (the limit).
    TooLong(usize),
    /// The management loop is gone.
    Stopping,
    /// The management loop did not answer within the wait.
    Timeout,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed(e) => write!(f, "malformed request: {e}"),
            RequestError::Version(n) => write!(
                f,
                "unsupported protocol version {n}: this natrix speaks version {PROTOCOL_VERSION}"
            ),
            RequestError::NoVersion => f.write_str("request without a \"version\" number"),
            RequestError::Invalid(e) => write!(f, "bad request: {e}"),
            RequestError::TooLong(max) => write!(f, "request longer than {max} bytes"),
            RequestError::Stopping => f.write_str("natrix is stopping"),
            RequestError::Timeout => f.write_str("natrix did not answer in time"),
        }
    }
}

impl std::error::Error for RequestError {}

// ------------------------------------------------------------------- replies

/// A reply: on the wire `{"version": 1, "ok": true, "result": ...}` or
/// `{"version": 1, "ok": false, "error": "..."}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(into = "WireResponse", try_from = "WireResponse")]
pub struct Response {
    pub version: u32,
    /// What was done, or why not (the server's words, for the operator).
    pub result: Result<Outcome, String>,
}

/// What a request that succeeded answers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum Outcome {
    /// The answer to `stats`.
    Stats(Box<StatsReport>),
    /// The answer to a backend change or a reload: what changed.
    Done { message: String },
}

impl Response {
    pub fn ok(outcome: Outcome) -> Response {
        Response {
            version: PROTOCOL_VERSION,
            result: Ok(outcome),
        }
    }

    pub fn err(e: impl fmt::Display) -> Response {
        Response {
            version: PROTOCOL_VERSION,
            result: Err(e.to_string()),
        }
    }
}

/// The reply as it is written: the result goes through a JSON value, so
/// its object keys are written in sorted order, as natrix always has.
#[derive(Serialize, Deserialize)]
struct WireResponse {
    version: u32,
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<Response> for WireResponse {
    fn from(r: Response) -> WireResponse {
        let (ok, result, error) = match r.result {
            Ok(o) => (
                true,
                Some(serde_json::to_value(o).unwrap_or_default()),
                None,
            ),
            Err(e) => (false, None, Some(e)),
        };
        WireResponse {
            version: r.version,
            ok,
            result,
            error,
        }
    }
}

impl TryFrom<WireResponse> for Response {
    type Error = String;

    fn try_from(w: WireResponse) -> Result<Response, String> {
        let result = if w.ok {
            let v = w.result.ok_or("\"ok\": true without a \"result\"")?;
            Ok(serde_json::from_value(v).map_err(|e| e.to_string())?)
        } else {
            Err(w.error.unwrap_or_else(|| "request refused".into()))
        };
        Ok(Response {
            version: w.version,
            result,
        })
    }
}

// ---------------------------------------------------------------- statistics

/// One worker's statistics, or the total over all of them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct WorkerStats {
    pub rx: u64,
    pub tx: u64,
    pub dropped: u64,
    pub rx_pps: f64,
    pub tx_pps: f64,
    pub drop_pps: f64,
    /// Connections in the flow table: the live ones, and those that expired
    /// since the worker's sweep last passed them (docs/packets.md).
    pub active_connections: u64,
    pub table_capacity: u64,
    /// active_connections / table_capacity.
    pub occupancy: f64,
    pub new_connections_per_sec: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FrontendStats {
    pub name: String,
    /// `ip:port` (IPv6: `[ip]:port`).
    pub address: String,
    /// "ipv4" or "ipv6".
    #[serde(default)]
    pub family: String,
    pub protocol: String,
    /// "balance" (a rule) or "nat" (an inbound NAT rule).
    pub kind: String,
    pub connections: u64,
    pub new_connections_per_sec: f64,
    pub packets: u64,
    pub pps: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BackendStats {
    pub pool: String,
    pub frontend: String,
    /// `ip:port` (IPv6: `[ip]:port`).
    pub address: String,
    /// "ipv4" or "ipv6".
    #[serde(default)]
    pub family: String,
    pub weight: u32,
    /// On the wire by its name: "active", "draining", "removed", "down" or
    /// "down-drop".
    pub state: BackendStatus,
    /// Health from probes: true, false, or null when the pool has none.
    pub healthy: Option<bool>,
    pub connections: u64,
    pub packets: u64,
    pub pps: f64,
}

/// The answer to `stats`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StatsReport {
    pub version: u32,
    pub uptime_seconds: f64,
    pub workers: Vec<WorkerStats>,
    pub total: WorkerStats,
    pub drops: BTreeMap<String, u64>,
    pub events: BTreeMap<String, u64>,
    pub frontends: Vec<FrontendStats>,
    pub backends: Vec<BackendStats>,
    /// The neighbour table (absent from older natrix: empty).
    #[serde(default)]
    pub neighbours: Vec<NeighbourStats>,
}

/// One entry of the neighbour cache: a next hop natrix resolves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NeighbourStats {
    /// The gateway's, backend's or next hop's IPv4 or IPv6 address.
    pub address: String,
    /// Its MAC, if known (kept while failed, for the operator; not used).
    pub mac: Option<String>,
    /// `incomplete`, `reachable`, `stale` or `failed`; `capture` in a
    /// replay (taken from the capture, never asked).
    pub state: String,
    /// `public` or `private`.
    pub port: String,
    /// Seconds since the state last changed or the entry was last confirmed.
    pub age_seconds: f64,
}

// ------------------------------------------------------------ backend state

/// Every backend state, for reading a state's name back.
const STATES: [BackendStatus; 5] = [
    BackendStatus::Active,
    BackendStatus::Draining,
    BackendStatus::Removed,
    BackendStatus::Down,
    BackendStatus::DownDrop,
];

/// The data path's backend state travels under its name
/// ([`BackendStatus::name`]), so the protocol and the data path share one
/// enum and the data path needs no serde.
impl Serialize for BackendStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for BackendStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<BackendStatus, D::Error> {
        let name = String::deserialize(d)?;
        STATES
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = STATES.iter().map(|s| s.name()).collect();
                serde::de::Error::custom(format!(
                    "unknown backend state {name:?}, expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// A state equals its wire name (`b.state == "down"`).
impl PartialEq<&str> for BackendStatus {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_travel_by_name() {
        for s in STATES {
            let text = serde_json::to_string(&s).unwrap();
            assert_eq!(text, format!("\"{}\"", s.name()));
            assert_eq!(serde_json::from_str::<BackendStatus>(&text).unwrap(), s);
            assert!(s == s.name());
        }
        assert!(serde_json::from_str::<BackendStatus>("\"up\"").is_err());
    }

    #[test]
    fn requests_on_the_wire() {
        let r = Request::new(Command::BackendDrain {
            pool: "web".into(),
            address: "198.19.1.11:8080".into(),
        });
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(
            line,
            r#"{"version":1,"command":"backend-drain","pool":"web","address":"198.19.1.11:8080"}"#
        );
        assert_eq!(Request::parse(&line).unwrap(), r);
        // A weight defaults to 1; a missing mac is null or absent.
        let add = Request::parse(
            r#"{"version":1,"command":"backend-add","pool":"web","address":"198.19.1.14:8080","mac":null}"#,
        )
        .unwrap();
        assert_eq!(
            add.command,
            Command::BackendAdd {
                pool: "web".into(),
                address: "198.19.1.14:8080".into(),
                weight: 1,
                mac: None
            }
        );
        assert_eq!(
            Request::parse(r#"{"version":2,"command":"stats"}"#),
            Err(RequestError::Version(2))
        );
        assert_eq!(
            Request::parse(r#"{"command":"stats"}"#),
            Err(RequestError::NoVersion)
        );
        assert!(matches!(
            Request::parse("garbage"),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            Request::parse(r#"{"version":1,"command":"explode"}"#),
            Err(RequestError::Invalid(_))
        ));
    }

    #[test]
    fn responses_on_the_wire() {
        let done = Response::ok(Outcome::Done {
            message: "reloaded".into(),
        });
        let line = serde_json::to_string(&done).unwrap();
        assert_eq!(
            line,
            r#"{"version":1,"ok":true,"result":{"message":"reloaded"}}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), done);
        let refused = Response::err(RequestError::NoVersion);
        let line = serde_json::to_string(&refused).unwrap();
        assert_eq!(
            line,
            r#"{"version":1,"ok":false,"error":"request without a \"version\" number"}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), refused);
        let stats = Response::ok(Outcome::Stats(Box::new(StatsReport {
            version: PROTOCOL_VERSION,
            uptime_seconds: 1.5,
            workers: vec![WorkerStats::default()],
            total: WorkerStats::default(),
            drops: BTreeMap::new(),
            events: BTreeMap::new(),
            frontends: Vec::new(),
            backends: vec![BackendStats {
                pool: "web".into(),
                frontend: "web".into(),
                address: "198.19.1.11:8080".into(),
                family: "ipv4".into(),
                weight: 0,
                state: BackendStatus::DownDrop,
                healthy: Some(false),
                connections: 0,
                packets: 0,
                pps: 0.0,
            }],
            neighbours: Vec::new(),
        })));
        let line = serde_json::to_string(&stats).unwrap();
        assert!(line.contains(r#""state":"down-drop""#), "{line}");
        assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), stats);
    }
}
