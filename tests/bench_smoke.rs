use natrix::app::bench;
use natrix::control::plane::ControlPlane;
use natrix::dataplane::counters::{DropReason, Event};

#[test]
fn bench_worker_serves_every_flow_without_drops() {
    let cp = ControlPlane::new(bench::bench_config(1000)).unwrap();
    let mut bw = bench::setup_worker(&cp, 1000, 1, 0);
    let c = &bw.worker.dp.counters;
    for r in DropReason::ALL {
        assert_eq!(c.drop_count(*r), 0, "SYN phase dropped under {}", r.name());
    }
    assert_eq!(c.event_count(Event::ConnectionCreated), 1000);
    for _ in 0..100 {
        bw.worker.poll();
    }
    let c = &bw.worker.dp.counters;
    for r in DropReason::ALL {
        assert_eq!(c.drop_count(*r), 0, "ACK phase dropped under {}", r.name());
    }
    assert_eq!(c.tx, c.rx);
    assert_eq!(c.event_count(Event::ConnectionCreated), 1000);
}
