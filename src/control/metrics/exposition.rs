//! What `/metrics` shows: natrix's statistics report as metric families, kept
//! monotonic across scrapes, and encoded by the `prometheus-client` crate in
//! the Prometheus text format 0.0.4 or in OpenMetrics 1.0.0.

use crate::control::protocol::{BackendStats, FrontendStats, StatsReport, WorkerStats};
use crate::dataplane::snapshot::BackendStatus;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};

/// The exposition formats natrix writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4: what a scraper gets unless it asks for
    /// OpenMetrics.
    Text,
    /// OpenMetrics 1.0.0 text: counter families are named without `_total`
    /// in `# TYPE` and `# HELP`, and the text ends with `# EOF`.
    OpenMetrics,
}

/// The content type of the OpenMetrics text format that natrix writes.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Format {
    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` with a weight above 0 and at least that
    /// of any text/plain, `text/*` or `*/*` range; the text format otherwise,
    /// and when there is no header.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let (mut open, mut text) = (0.0f32, 0.0f32);
        for range in accept.unwrap_or("").split(',') {
            let mut params = range.split(';').map(str::trim);
            let media = params.next().unwrap_or("").to_ascii_lowercase();
            let q = params
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => open = open.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if open > 0.0 && open >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// Counter or gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// A sample value: integers stay exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

impl Value {
    fn as_f64(self) -> f64 {
        match self {
            Value::Int(n) => n as f64,
            Value::Float(f) => f,
        }
    }
}

/// A sample's labels, as (name, unescaped value).
pub type Labels = Vec<(&'static str, String)>;

/// One metric family: its name (a counter's without `_total`, which the
/// encoder adds), unit, help and samples.
#[derive(Clone, Debug)]
pub struct Family {
    pub name: &'static str,
    pub unit: Option<Unit>,
    pub help: &'static str,
    pub kind: Kind,
    pub samples: Vec<(Labels, Value)>,
}

/// A metric family in the table: its name, type and help, and how to read
/// its sample off one row (a worker, a frontend, a backend, ...).
struct Spec<T> {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    value: fn(&T) -> Value,
}

/// Labelled by `worker`.
const WORKER_FAMILIES: [Spec<WorkerStats>; 10] = [
    Spec {
        name: "natrix_packets_received",
        kind: Kind::Counter,
        help: "Packets received by each worker.",
        value: |w| Value::Int(w.rx),
    },
    Spec {
        name: "natrix_packets_sent",
        kind: Kind::Counter,
        help: "Packets sent by each worker.",
        value: |w| Value::Int(w.tx),
    },
    Spec {
        name: "natrix_packets_dropped",
        kind: Kind::Counter,
        help: "Packets dropped by each worker, for any reason.",
        value: |w| Value::Int(w.dropped),
    },
    Spec {
        name: "natrix_receive_packets_per_second",
        kind: Kind::Gauge,
        help: "Packets received per second by each worker, over the last second.",
        value: |w| Value::Float(w.rx_pps),
    },
    Spec {
        name: "natrix_send_packets_per_second",
        kind: Kind::Gauge,
        help: "Packets sent per second by each worker, over the last second.",
        value: |w| Value::Float(w.tx_pps),
    },
    Spec {
        name: "natrix_drop_packets_per_second",
        kind: Kind::Gauge,
        help: "Packets dropped per second by each worker, over the last second.",
        value: |w| Value::Float(w.drop_pps),
    },
    Spec {
        name: "natrix_active_connections",
        kind: Kind::Gauge,
        help: "Flow-table entries in use (live or not yet reclaimed) in each worker.",
        value: |w| Value::Int(w.active_connections),
    },
    Spec {
        name: "natrix_flow_table_capacity",
        kind: Kind::Gauge,
        help: "Flow-table entries of each worker.",
        value: |w| Value::Int(w.table_capacity),
    },
    Spec {
        name: "natrix_flow_table_occupancy_ratio",
        kind: Kind::Gauge,
        help: "Active connections over flow-table capacity, 0 to 1, of each worker.",
        value: |w| Value::Float(w.occupancy),
    },
    Spec {
        name: "natrix_new_connections_per_second",
        kind: Kind::Gauge,
        help: "New connections per second in each worker, over the last second.",
        value: |w| Value::Float(w.new_connections_per_sec),
    },
];

/// Labelled by `reason`.
const DROP_FAMILIES: [Spec<u64>; 1] = [Spec {
    name: "natrix_drops",
    kind: Kind::Counter,
    help: "Packets dropped, by reason (all workers).",
    value: |n| Value::Int(*n),
}];

/// Labelled by `event`.
const EVENT_FAMILIES: [Spec<u64>; 1] = [Spec {
    name: "natrix_events",
    kind: Kind::Counter,
    help: "Events of packets that were sent, by event (all workers).",
    value: |n| Value::Int(*n),
}];

/// Labelled by `frontend`, `address` and `protocol`.
const FRONTEND_FAMILIES: [Spec<FrontendStats>; 4] = [
    Spec {
        name: "natrix_frontend_connections",
        kind: Kind::Counter,
        help: "New connections to each frontend.",
        value: |f| Value::Int(f.connections),
    },
    Spec {
        name: "natrix_frontend_packets",
        kind: Kind::Counter,
        help: "Packets translated for each frontend's connections, both directions.",
        value: |f| Value::Int(f.packets),
    },
    Spec {
        name: "natrix_frontend_new_connections_per_second",
        kind: Kind::Gauge,
        help: "New connections per second to each frontend, over the last second.",
        value: |f| Value::Float(f.new_connections_per_sec),
    },
    Spec {
        name: "natrix_frontend_packets_per_second",
        kind: Kind::Gauge,
        help: "Packets per second of each frontend's connections, over the last second.",
        value: |f| Value::Float(f.pps),
    },
];

/// Labelled by `pool`, `frontend` and `backend`.
const BACKEND_FAMILIES: [Spec<BackendRow>; 5] = [
    Spec {
        name: "natrix_backend_connections",
        kind: Kind::Counter,
        help: "New connections given to each backend.",
        value: |b| Value::Int(b.connections),
    },
    Spec {
        name: "natrix_backend_packets",
        kind: Kind::Counter,
        help: "Packets sent to (inbound) or from (return) each backend.",
        value: |b| Value::Int(b.packets),
    },
    Spec {
        name: "natrix_backend_packets_per_second",
        kind: Kind::Gauge,
        help: "Packets per second to and from each backend, over the last second.",
        value: |b| Value::Float(b.pps),
    },
    Spec {
        name: "natrix_backend_up",
        kind: Kind::Gauge,
        help: "1 when the backend is active or draining and not failing health checks, else 0.",
        value: |b| Value::Int(u64::from(b.up)),
    },
    Spec {
        name: "natrix_backend_weight",
        kind: Kind::Gauge,
        help: "The backend's weight (0: takes no new connections).",
        value: |b| Value::Int(u64::from(b.weight)),
    },
];

/// One family per spec, with one sample per row.
fn table<T, R: Borrow<T>>(specs: &[Spec<T>], rows: &[(Labels, R)]) -> Vec<Family> {
    specs
        .iter()
        .map(|s| Family {
            name: s.name,
            unit: None,
            help: s.help,
            kind: s.kind,
            samples: rows
                .iter()
                .map(|(labels, row)| (labels.clone(), (s.value)(row.borrow())))
                .collect(),
        })
        .collect()
}

/// Backend series are keyed by (pool, frontend, backend); should two entries
/// share a key (a backend removed and added again), their counters are
/// summed and the gauges of a live entry win over a removed one.
#[derive(Default)]
struct BackendRow {
    connections: u64,
    packets: u64,
    pps: f64,
    weight: u32,
    up: bool,
    live: bool,
}

fn backend_rows(backends: &[BackendStats]) -> Vec<(Labels, BackendRow)> {
    let mut rows: BTreeMap<(String, String, String, String), BackendRow> = BTreeMap::new();
    for b in backends {
        let key = (
            b.pool.clone(),
            b.frontend.clone(),
            b.address.clone(),
            b.family.clone(),
        );
        let row = rows.entry(key).or_default();
        row.connections += b.connections;
        row.packets += b.packets;
        row.pps += b.pps;
        let live = b.state != BackendStatus::Removed;
        if live || !row.live {
            row.weight = b.weight;
            row.up = matches!(b.state, BackendStatus::Active | BackendStatus::Draining)
                && b.healthy != Some(false);
            row.live = live;
        }
    }
    rows.into_iter()
        .map(|((pool, frontend, backend, family), row)| {
            (
                vec![
                    ("pool", pool),
                    ("frontend", frontend),
                    ("backend", backend),
                    ("family", family),
                ],
                row,
            )
        })
        .collect()
}

/// The metric families of one statistics report.
pub fn families(r: &StatsReport) -> Vec<Family> {
    let by = |label: &'static str, counts: &BTreeMap<String, u64>| -> Vec<(Labels, u64)> {
        counts
            .iter()
            .map(|(k, n)| (vec![(label, k.clone())], *n))
            .collect()
    };
    let workers: Vec<(Labels, &WorkerStats)> = r
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| (vec![("worker", i.to_string())], w))
        .collect();
    let frontends: Vec<(Labels, &FrontendStats)> = r
        .frontends
        .iter()
        .map(|f| {
            let labels = vec![
                ("frontend", f.name.clone()),
                ("address", f.address.clone()),
                ("protocol", f.protocol.clone()),
                ("family", f.family.clone()),
            ];
            (labels, f)
        })
        .collect();
    let mut out = table(&WORKER_FAMILIES, &workers);
    out.extend(table(&DROP_FAMILIES, &by("reason", &r.drops)));
    out.extend(table(&EVENT_FAMILIES, &by("event", &r.events)));
    out.extend(table(&FRONTEND_FAMILIES, &frontends));
    out.extend(table(&BACKEND_FAMILIES, &backend_rows(&r.backends)));
    // The unit makes the name natrix_uptime_seconds (and, in OpenMetrics,
    // adds a `# UNIT` line).
    out.push(Family {
        name: "natrix_uptime",
        unit: Some(Unit::Seconds),
        help: "Seconds since the management loop started.",
        kind: Kind::Gauge,
        samples: vec![(Vec::new(), Value::Float(r.uptime_seconds))],
    });
    out
}

/// The families of one scrape, as a `prometheus-client` collector: it
/// describes each family and encodes each sample as a constant.
#[derive(Debug)]
struct Scrape(Vec<Family>);

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.0 {
            let kind = match f.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
            };
            let mut metric = encoder.encode_descriptor(f.name, f.help, f.unit.as_ref(), kind)?;
            for (labels, v) in &f.samples {
                let sample = metric.encode_family(labels)?;
                match (f.kind, *v) {
                    (Kind::Counter, Value::Int(n)) => ConstCounter::new(n).encode(sample)?,
                    (Kind::Counter, Value::Float(x)) => ConstCounter::new(x).encode(sample)?,
                    (Kind::Gauge, Value::Int(n)) => ConstGauge::new(n).encode(sample)?,
                    (Kind::Gauge, Value::Float(x)) => ConstGauge::new(x).encode(sample)?,
                }
            }
        }
        Ok(())
    }
}

/// Writes families in `format`.
pub fn encode(fams: Vec<Family>, format: Format) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(fams)));
    let mut out = String::new();
    // Writing to a String fails only when a collector fails, and ours does
    // not: an error would leave a truncated text, which the scraper rejects.
    let _ = match format {
        Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut out, &registry),
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
    };
    out
}

/// Renders one statistics report.
pub fn render(r: &StatsReport, format: Format) -> String {
    encode(families(r), format)
}

/// Keeps counters from going backwards between scrapes: each counter series
/// reports at least the last value it reported, and a series that disappears
/// (after a reload, say) keeps being reported with its last value.
#[derive(Default)]
pub struct Monotonic {
    /// (family, labels) -> last value.
    last: HashMap<(&'static str, Labels), Value>,
}

impl Monotonic {
    pub fn apply(&mut self, fams: &mut [Family]) {
        for f in fams.iter_mut().filter(|f| f.kind == Kind::Counter) {
            let mut seen = std::collections::HashSet::new();
            for (labels, v) in f.samples.iter_mut() {
                let key = (f.name, labels.clone());
                match self.last.get(&key) {
                    Some(prev) if prev.as_f64() > v.as_f64() => *v = *prev,
                    _ => {}
                }
                self.last.insert(key, *v);
                seen.insert(labels.clone());
            }
            let mut gone: Vec<(Labels, Value)> = self
                .last
                .iter()
                .filter(|((name, labels), _)| *name == f.name && !seen.contains(labels))
                .map(|((_, labels), v)| (labels.clone(), *v))
                .collect();
            gone.sort_by(|a, b| a.0.cmp(&b.0));
            f.samples.extend(gone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::PROTOCOL_VERSION;

    fn report() -> StatsReport {
        let w = WorkerStats {
            rx: 100,
            tx: 90,
            dropped: 10,
            rx_pps: 1.5,
            tx_pps: 1.0,
            drop_pps: 0.5,
            active_connections: 3,
            table_capacity: 1024,
            occupancy: 3.0 / 1024.0,
            new_connections_per_sec: 2.0,
        };
        StatsReport {
            version: PROTOCOL_VERSION,
            uptime_seconds: 12.5,
            workers: vec![w.clone(), WorkerStats::default()],
            total: w,
            drops: [
                ("no-service".to_string(), 7),
                ("ttl-expired".to_string(), 0),
            ]
            .into_iter()
            .collect(),
            events: [("connection-created".to_string(), 4)]
                .into_iter()
                .collect(),
            frontends: vec![FrontendStats {
                name: "we\"b\\\n".into(),
                address: "198.18.1.10:80".into(),
                family: "ipv4".into(),
                protocol: "tcp".into(),
                kind: "balance".into(),
                connections: 4,
                new_connections_per_sec: 0.0,
                packets: 80,
                pps: 0.0,
            }],
            backends: vec![
                BackendStats {
                    pool: "web".into(),
                    frontend: "web".into(),
                    address: "198.19.1.11:8080".into(),
                    family: "ipv4".into(),
                    weight: 2,
                    state: BackendStatus::Active,
                    healthy: None,
                    connections: 3,
                    packets: 60,
                    pps: 0.0,
                },
                BackendStats {
                    pool: "web".into(),
                    frontend: "web".into(),
                    address: "198.19.1.12:8080".into(),
                    family: "ipv4".into(),
                    weight: 1,
                    state: BackendStatus::Active,
                    healthy: Some(false),
                    connections: 1,
                    packets: 20,
                    pps: 0.0,
                },
                BackendStats {
                    pool: "web".into(),
                    frontend: "web".into(),
                    address: "198.19.1.13:8080".into(),
                    family: "ipv4".into(),
                    weight: 0,
                    state: BackendStatus::Removed,
                    healthy: None,
                    connections: 5,
                    packets: 9,
                    pps: 0.0,
                },
            ],
            neighbours: Vec::new(),
        }
    }

    #[test]
    fn renders_exposition_format() {
        let text = render(&report(), Format::Text);
        let has = |l: &str| text.lines().any(|x| x == l);
        assert!(has("# TYPE natrix_packets_received_total counter"));
        assert!(has(
            "# HELP natrix_packets_received_total Packets received by each worker."
        ));
        assert!(has("natrix_packets_received_total{worker=\"0\"} 100"));
        assert!(has("natrix_packets_received_total{worker=\"1\"} 0"));
        assert!(has("natrix_packets_sent_total{worker=\"0\"} 90"));
        assert!(has("natrix_packets_dropped_total{worker=\"0\"} 10"));
        assert!(has("# TYPE natrix_active_connections gauge"));
        assert!(has("natrix_active_connections{worker=\"0\"} 3"));
        assert!(has("natrix_drops_total{reason=\"no-service\"} 7"));
        assert!(has("natrix_drops_total{reason=\"ttl-expired\"} 0"));
        assert!(has("natrix_events_total{event=\"connection-created\"} 4"));
        assert!(has("natrix_receive_packets_per_second{worker=\"0\"} 1.5"));
        assert!(has("# TYPE natrix_uptime_seconds gauge"));
        assert!(has("natrix_uptime_seconds 12.5"));
        // Label escaping: backslash, double quote, newline.
        assert!(has(
            r#"natrix_frontend_connections_total{frontend="we\"b\\\n",address="198.18.1.10:80",protocol="tcp",family="ipv4"} 4"#
        ));
        assert!(has(
            r#"natrix_backend_connections_total{pool="web",frontend="web",backend="198.19.1.11:8080",family="ipv4"} 3"#
        ));
        assert!(has(
            r#"natrix_backend_up{pool="web",frontend="web",backend="198.19.1.11:8080",family="ipv4"} 1"#
        ));
        // Unhealthy and removed backends are down.
        assert!(has(
            r#"natrix_backend_up{pool="web",frontend="web",backend="198.19.1.12:8080",family="ipv4"} 0"#
        ));
        assert!(has(
            r#"natrix_backend_up{pool="web",frontend="web",backend="198.19.1.13:8080",family="ipv4"} 0"#
        ));
        assert!(has(
            r#"natrix_backend_weight{pool="web",frontend="web",backend="198.19.1.11:8080",family="ipv4"} 2"#
        ));
        // Every sample's family has HELP and TYPE lines before it, and
        // there is no other comment.
        let mut typed = std::collections::HashSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_string());
            } else if !l.starts_with("# HELP ") {
                assert!(!l.starts_with('#'), "{l}");
                let name = l.split(['{', ' ']).next().unwrap();
                assert!(typed.contains(name), "{l}");
            }
        }
    }

    #[test]
    fn ipv6_series_are_labelled_by_family() {
        let mut r = report();
        r.frontends.push(FrontendStats {
            name: "web6".into(),
            address: "[2001:db8::10]:80".into(),
            family: "ipv6".into(),
            protocol: "tcp".into(),
            kind: "balance".into(),
            connections: 6,
            new_connections_per_sec: 0.0,
            packets: 60,
            pps: 0.0,
        });
        r.backends.push(BackendStats {
            pool: "app6".into(),
            frontend: "web6".into(),
            address: "[2001:db8:1::11]:8080".into(),
            family: "ipv6".into(),
            weight: 1,
            state: BackendStatus::Active,
            healthy: Some(true),
            connections: 6,
            packets: 60,
            pps: 0.0,
        });
        let text = render(&r, Format::Text);
        let has = |l: &str| text.lines().any(|x| x == l);
        assert!(has(
            r#"natrix_frontend_connections_total{frontend="web6",address="[2001:db8::10]:80",protocol="tcp",family="ipv6"} 6"#
        ));
        assert!(has(
            r#"natrix_backend_connections_total{pool="app6",frontend="web6",backend="[2001:db8:1::11]:8080",family="ipv6"} 6"#
        ));
        assert!(has(
            r#"natrix_backend_up{pool="app6",frontend="web6",backend="[2001:db8:1::11]:8080",family="ipv6"} 1"#
        ));
        assert!(has(
            r#"natrix_backend_up{pool="web",frontend="web",backend="198.19.1.11:8080",family="ipv4"} 1"#
        ));
    }

    #[test]
    fn renders_openmetrics() {
        let text = render(&report(), Format::OpenMetrics);
        let has = |l: &str| text.lines().any(|x| x == l);
        assert!(has("# TYPE natrix_packets_received counter"));
        assert!(has("natrix_packets_received_total{worker=\"0\"} 100"));
        assert!(has("# TYPE natrix_uptime_seconds gauge"));
        assert!(has("# UNIT natrix_uptime_seconds seconds"));
        assert!(has("natrix_uptime_seconds 12.5"));
        assert!(has(
            r#"natrix_frontend_connections_total{frontend="we\"b\\\n",address="198.18.1.10:80",protocol="tcp",family="ipv4"} 4"#
        ));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn special_values() {
        let gauge = |x: f64, format| {
            let f = Family {
                name: "g",
                unit: None,
                help: "h",
                kind: Kind::Gauge,
                samples: vec![(Vec::new(), Value::Float(x))],
            };
            encode(vec![f], format)
        };
        assert!(gauge(f64::NAN, Format::Text).contains("\ng NaN\n"));
        assert!(gauge(f64::INFINITY, Format::Text).contains("\ng +Inf\n"));
        assert!(gauge(0.25, Format::OpenMetrics).contains("\ng 0.25\n"));
    }

    #[test]
    fn negotiation() {
        use Format::*;
        assert_eq!(Format::negotiate(None), Text);
        assert_eq!(Format::negotiate(Some("*/*")), Text);
        assert_eq!(Format::negotiate(Some("text/plain; version=0.0.4")), Text);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=1.0.0")),
            OpenMetrics
        );
        // What Prometheus 2.x sends.
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            )),
            OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some(
                "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"
            )),
            Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Text
        );
    }

    #[test]
    fn counters_never_go_backwards() {
        let mut m = Monotonic::default();
        let mut a = families(&report());
        m.apply(&mut a);
        let mut r = report();
        r.workers[0].rx = 50;
        r.backends.pop();
        let mut b = families(&r);
        m.apply(&mut b);
        let text = encode(b, Format::Text);
        assert!(text.contains("natrix_packets_received_total{worker=\"0\"} 100\n"));
        assert!(text.contains(
            r#"natrix_backend_connections_total{pool="web",frontend="web",backend="198.19.1.13:8080",family="ipv4"} 5"#
        ));
    }
}
