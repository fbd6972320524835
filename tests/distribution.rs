//! Distribution, stability and determinism tests for `natrix::dataplane::select`.

use natrix::dataplane::select::{
    hash_src, hash_src_proto, hash_tuple, is_prime, mix64, next_prime, MaglevTable, Rng,
    WeightedTable, NONE, WEIGHTED_SLOTS,
};
use proptest::prelude::*;
use std::time::Instant;

const SIZE: u32 = 65537;

/// Stable backend identity as the caller would derive it (hash of addr:port).
fn backend_key(i: u32) -> u64 {
    hash_tuple(0x0a00_0000 + i, 0, 8080, 0, 6, 0x5eed)
}

fn equal_backends(n: u32) -> Vec<(u64, u32)> {
    (0..n).map(|i| (backend_key(i), 1)).collect()
}

/// Fraction of `total` per backend index, for `n` backends.
fn shares(counts: &[u64], total: u64) -> Vec<f64> {
    counts.iter().map(|&c| c as f64 / total as f64).collect()
}

fn entry_counts(t: &MaglevTable, n: usize) -> Vec<u64> {
    let mut c = vec![0u64; n];
    for &e in t.entries() {
        c[usize::from(e)] += 1;
    }
    c
}

fn assert_within(got: &[f64], want: &[f64], tol: f64, what: &str) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "{what}: backend {i} share {g:.4}, expected {w:.4} ± {tol}"
        );
    }
}

/// 100k random 5-tuple hashes from a fixed seed.
fn random_flow_hashes(n: usize) -> Vec<u64> {
    let mut rng = Rng::new(7);
    (0..n)
        .map(|_| {
            let a = rng.next_u64();
            let b = rng.next_u64();
            hash_tuple(
                a as u32,
                (a >> 32) as u32,
                b as u16,
                (b >> 16) as u16,
                6,
                0x1234,
            )
        })
        .collect()
}

// --------------------------------------------------------------------------
// WeightedTable
// --------------------------------------------------------------------------

fn pick_shares(t: &WeightedTable, n: usize, picks: u64) -> Vec<f64> {
    let mut rng = Rng::new(42);
    let mut c = vec![0u64; n];
    for _ in 0..picks {
        let b = t.pick(rng.next_u64());
        assert_ne!(b, NONE);
        c[usize::from(b)] += 1;
    }
    shares(&c, picks)
}

#[test]
fn weighted_equal_weights() {
    let t = WeightedTable::build(&[1, 1, 1]);
    assert!(!t.is_empty());
    let s = pick_shares(&t, 3, 100_000);
    assert_within(&s, &[1.0 / 3.0; 3], 0.02, "equal weights");
}

#[test]
fn weighted_one_two_three() {
    let t = WeightedTable::build(&[10, 20, 30]);
    let s = pick_shares(&t, 3, 100_000);
    assert_within(&s, &[1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0], 0.02, "1:2:3");
}

#[test]
fn weighted_zero_weight_never_picked() {
    let t = WeightedTable::build(&[3, 0, 1]);
    assert!(t.slots().iter().all(|&s| s != 1 && s != NONE));
    let mut rng = Rng::new(42);
    for _ in 0..100_000 {
        assert_ne!(t.pick(rng.next_u64()), 1);
    }
    // Extremes of the random input.
    assert_ne!(t.pick(0), 1);
    assert_ne!(t.pick(u64::MAX), 1);
}

#[test]
fn weighted_all_zero_is_none() {
    for w in [&[][..], &[0][..], &[0, 0, 0][..]] {
        let t = WeightedTable::build(w);
        assert!(t.is_empty());
        let mut rng = Rng::new(42);
        for _ in 0..1000 {
            assert_eq!(t.pick(rng.next_u64()), NONE);
        }
        assert_eq!(t.pick(u64::MAX), NONE);
    }
}

#[test]
fn weighted_uses_high_bits() {
    // Low bits alone must not decide: varying only the low 32 bits keeps the pick.
    let t = WeightedTable::build(&[1, 1, 1, 1]);
    let hi = 0xc000_0000_0000_0000u64;
    for low in [0u64, 1, 2, 3, 0xffff_ffff] {
        assert_eq!(t.pick(hi | low), 3);
    }
    assert_eq!(t.pick(0), 0);
}

#[test]
fn weighted_every_positive_backend_gets_a_slot() {
    let mut w = vec![1u32; 4000];
    w[17] = u32::MAX;
    w[5] = 0;
    let t = WeightedTable::build(&w);
    let mut c = vec![0usize; w.len()];
    for &s in t.slots() {
        c[usize::from(s)] += 1;
    }
    assert_eq!(t.slots().len(), WEIGHTED_SLOTS);
    for (i, &n) in c.iter().enumerate() {
        if w[i] == 0 {
            assert_eq!(n, 0);
        } else {
            assert!(n >= 1, "backend {i} starved");
        }
    }
}

// --------------------------------------------------------------------------
// Maglev
// --------------------------------------------------------------------------

#[test]
fn maglev_equal_entry_shares() {
    let t = MaglevTable::build(SIZE, &equal_backends(10));
    assert_eq!(t.size(), SIZE);
    assert_eq!(t.entries().len(), SIZE as usize);
    let s = shares(&entry_counts(&t, 10), u64::from(SIZE));
    assert_within(&s, &[0.1; 10], 0.01, "maglev entries");
}

#[test]
fn maglev_flow_spread() {
    let t = MaglevTable::build(SIZE, &equal_backends(10));
    let hashes = random_flow_hashes(100_000);
    let mut c = vec![0u64; 10];
    for &h in &hashes {
        c[usize::from(t.lookup(h))] += 1;
    }
    assert_within(&shares(&c, 100_000), &[0.1; 10], 0.02, "maglev flows");
}

#[test]
fn maglev_weighted_shares() {
    let b: Vec<(u64, u32)> = [1u32, 2, 3]
        .iter()
        .enumerate()
        .map(|(i, &w)| (backend_key(i as u32), w))
        .collect();
    let t = MaglevTable::build(SIZE, &b);
    let s = shares(&entry_counts(&t, 3), u64::from(SIZE));
    assert_within(
        &s,
        &[1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0],
        0.02,
        "weighted maglev",
    );
}

#[test]
fn maglev_zero_weight_excluded() {
    let mut b = equal_backends(5);
    b[2].1 = 0;
    let t = MaglevTable::build(SIZE, &b);
    assert!(t.entries().iter().all(|&e| e != 2 && e != NONE));
}

#[test]
fn maglev_empty_is_none() {
    let t = MaglevTable::build(SIZE, &[]);
    assert!(t.entries().iter().all(|&e| e == NONE));
    assert_eq!(t.lookup(0), NONE);
    assert_eq!(t.lookup(u64::MAX), NONE);
    let t = MaglevTable::build(SIZE, &[(1, 0), (2, 0)]);
    assert_eq!(t.lookup(12345), NONE);
}

#[test]
fn maglev_stable_removal() {
    let backends = equal_backends(10);
    let before = MaglevTable::build(SIZE, &backends);
    let removed = 4u16;
    let after = before.without(&backends, &[removed]);
    assert_eq!(after.size(), SIZE);

    // Entries: nothing on the other nine moves; the removed one's spread out.
    let mut moved_to = [0u64; 10];
    let mut moved = 0u64;
    for (&b, &a) in before.entries().iter().zip(after.entries()) {
        assert_ne!(a, removed);
        assert_ne!(a, NONE);
        if b == removed {
            moved += 1;
            moved_to[usize::from(a)] += 1;
        } else {
            assert_eq!(a, b, "an entry not on the removed backend moved");
        }
    }
    assert!(moved > 0);
    for (i, &c) in moved_to.iter().enumerate() {
        if i == usize::from(removed) {
            continue;
        }
        let f = c as f64 / moved as f64;
        assert!(
            (0.05..=0.20).contains(&f),
            "backend {i} got {f:.3} of the moved entries"
        );
    }

    // Random flows: same property.
    let mut flows_moved_to = [0u64; 10];
    let mut flows_moved = 0u64;
    for h in random_flow_hashes(100_000) {
        let (b, a) = (before.lookup(h), after.lookup(h));
        if b == removed {
            flows_moved += 1;
            flows_moved_to[usize::from(a)] += 1;
        } else {
            assert_eq!(a, b, "a flow not on the removed backend moved");
        }
    }
    for (i, &c) in flows_moved_to.iter().enumerate() {
        if i == usize::from(removed) {
            assert_eq!(c, 0);
            continue;
        }
        let f = c as f64 / flows_moved as f64;
        assert!(
            (0.05..=0.20).contains(&f),
            "backend {i} got {f:.3} of the moved flows"
        );
    }
}

#[test]
fn maglev_without_respects_weights_field() {
    // A backend that is not removed but has weight 0 in `backends` keeps its
    // existing entries but receives none of the reassigned ones.
    let mut backends = equal_backends(6);
    let before = MaglevTable::build(SIZE, &backends);
    backends[1].1 = 0;
    let after = before.without(&backends, &[0]);
    for (&b, &a) in before.entries().iter().zip(after.entries()) {
        if b == 0 {
            assert!(a != 0 && a != 1 && a != NONE);
        } else {
            assert_eq!(a, b);
        }
    }
}

#[test]
fn maglev_rebuild_disruption() {
    // Fresh build without backend 9 versus the 10-backend table. Measured at
    // the time of writing: 6_680 of 65_537 entries (10.19%) change owner, of
    // which 6_553 (10.0%) had to move because they were on backend 9; only
    // 127 entries (0.19%) of collateral churn, in line with Maglev's
    // near-minimal disruption. Only assert < 20%.
    let ten = MaglevTable::build(SIZE, &equal_backends(10));
    let nine = MaglevTable::build(SIZE, &equal_backends(9));
    let moved = ten
        .entries()
        .iter()
        .zip(nine.entries())
        .filter(|(a, b)| a != b)
        .count();
    let frac = moved as f64 / f64::from(SIZE);
    let forced = ten.entries().iter().filter(|&&e| e == 9).count();
    println!("fresh 9-backend build moves {moved} of {SIZE} entries ({frac:.4}); {forced} were on backend 9");
    assert!(frac < 0.20, "fresh rebuild moved {frac:.4} of keys");
}

#[test]
fn maglev_deterministic() {
    let b = equal_backends(10);
    assert_eq!(MaglevTable::build(SIZE, &b), MaglevTable::build(SIZE, &b));
    let w: Vec<(u64, u32)> = b.iter().map(|&(k, _)| (k, (k % 7) as u32)).collect();
    let t1 = MaglevTable::build(100_003, &w);
    let t2 = MaglevTable::build(100_003, &w);
    assert_eq!(t1, t2);
    assert_eq!(t1.without(&w, &[3, 5]), t2.without(&w, &[3, 5]));
    assert_eq!(
        WeightedTable::build(&[3, 1, 4, 1, 5]),
        WeightedTable::build(&[3, 1, 4, 1, 5])
    );
}

#[test]
fn maglev_build_cost() {
    // Generous bounds so the test stays robust on slow or busy machines;
    // actual timings are printed (run with --nocapture).
    let slack = if cfg!(debug_assertions) { 20 } else { 1 };
    let b = equal_backends(10);
    let t0 = Instant::now();
    let t = MaglevTable::build(SIZE, &b);
    let small = t0.elapsed();
    assert_eq!(t.size(), SIZE);

    let big: Vec<(u64, u32)> = (0..1000).map(|i| (backend_key(i), 1 + i % 5)).collect();
    let t0 = Instant::now();
    let t = MaglevTable::build(100_003, &big);
    let large = t0.elapsed();
    let t0 = Instant::now();
    let removed: Vec<u16> = (0..100).collect();
    let u = t.without(&big, &removed);
    let without = t0.elapsed();
    assert!(u.entries().iter().all(|&e| e >= 100 && e != NONE));

    println!("build 10/65537: {small:?}; build 1000/100003: {large:?}; without 100: {without:?}");
    assert!(small.as_millis() < 50 * slack, "10/65537 took {small:?}");
    assert!(
        large.as_millis() < 1000 * slack,
        "1000/100003 took {large:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `without` never moves an entry that was on a surviving backend, and
    /// never assigns a removed or weight-0 backend.
    #[test]
    fn prop_without_is_stable(
        size_idx in 0usize..4,
        weights in prop::collection::vec(0u32..5, 1..24),
        removed in prop::collection::vec(0u16..24, 0..6),
        salt in any::<u64>(),
    ) {
        let size = [2u32, 251, 1009, 4099][size_idx];
        let backends: Vec<(u64, u32)> = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| (mix64(salt ^ i as u64), w))
            .collect();
        let t = MaglevTable::build(size, &backends);
        let any_live = weights.iter().any(|&w| w > 0);
        let valid = |e: u16| {
            if any_live {
                usize::from(e) < weights.len() && weights[usize::from(e)] > 0
            } else {
                e == NONE
            }
        };
        prop_assert!(t.entries().iter().all(|&e| valid(e)));
        let u = t.without(&backends, &removed);
        let survivors: Vec<usize> = (0..weights.len())
            .filter(|&i| weights[i] > 0 && !removed.contains(&(i as u16)))
            .collect();
        for (&b, &a) in t.entries().iter().zip(u.entries()) {
            if b != NONE && !removed.contains(&b) {
                prop_assert_eq!(a, b);
            } else if survivors.is_empty() {
                prop_assert_eq!(a, NONE);
            } else {
                prop_assert!(survivors.contains(&usize::from(a)));
            }
        }
    }

    /// Weighted tables only ever hold positive-weight backends, fill all
    /// slots when any weight is positive, and give each one at least a slot.
    #[test]
    fn prop_weighted_table(weights in prop::collection::vec(0u32..1000, 0..40)) {
        let t = WeightedTable::build(&weights);
        let any_live = weights.iter().any(|&w| w > 0);
        prop_assert_eq!(t.is_empty(), !any_live);
        let mut c = vec![0usize; weights.len()];
        for &s in t.slots() {
            if any_live {
                prop_assert!(s != NONE);
                c[usize::from(s)] += 1;
            } else {
                prop_assert_eq!(s, NONE);
            }
        }
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        for (i, &w) in weights.iter().enumerate() {
            prop_assert_eq!(w > 0, c[i] > 0);
            if w > 0 {
                // Largest remainder stays within one slot of the exact quota;
                // the minimum-one fix-up can shift at most one slot per
                // backend on top of that.
                let exact = u64::from(w) as f64 * WEIGHTED_SLOTS as f64 / total as f64;
                prop_assert!((c[i] as f64 - exact).abs() < 1.0 + weights.len() as f64);
            }
        }
    }
}

// --------------------------------------------------------------------------
// Hashing, Rng, primes
// --------------------------------------------------------------------------

#[test]
fn hashes_differ_on_different_inputs() {
    let base = hash_tuple(0x0a00_0001, 0x0a00_0002, 1000, 80, 6, 0);
    let variants = [
        hash_tuple(0x0a00_0003, 0x0a00_0002, 1000, 80, 6, 0),
        hash_tuple(0x0a00_0001, 0x0a00_0003, 1000, 80, 6, 0),
        hash_tuple(0x0a00_0001, 0x0a00_0002, 1001, 80, 6, 0),
        hash_tuple(0x0a00_0001, 0x0a00_0002, 1000, 81, 6, 0),
        hash_tuple(0x0a00_0001, 0x0a00_0002, 1000, 80, 17, 0),
        hash_tuple(0x0a00_0001, 0x0a00_0002, 1000, 80, 6, 1),
        // Swapped direction must differ too.
        hash_tuple(0x0a00_0002, 0x0a00_0001, 80, 1000, 6, 0),
    ];
    for v in variants {
        assert_ne!(base, v);
    }
    assert_ne!(hash_src(1, 0), hash_src(2, 0));
    assert_ne!(hash_src(1, 0), hash_src(1, 1));
    assert_ne!(hash_src(0, 0), 0);
    assert_ne!(hash_src_proto(1, 6, 0), hash_src_proto(1, 17, 0));
    assert_ne!(hash_src_proto(1, 6, 0), hash_src_proto(2, 6, 0));
    assert_ne!(hash_src_proto(1, 6, 0), hash_src_proto(1, 6, 1));
    assert_ne!(hash_src(1, 0), hash_src_proto(1, 0, 0));
    assert_ne!(mix64(1), mix64(2));
    // Deterministic.
    assert_eq!(hash_tuple(1, 2, 3, 4, 5, 6), hash_tuple(1, 2, 3, 4, 5, 6));

    // No collisions over a block of sequential client addresses / ports.
    let mut seen = std::collections::HashSet::new();
    for ip in 0..20_000u32 {
        assert!(seen.insert(hash_src(ip, 9)));
        assert!(seen.insert(hash_src_proto(ip, 6, 9)));
        assert!(seen.insert(hash_tuple(ip, 1, 1, 1, 6, 9)));
        assert!(seen.insert(hash_tuple(2, 7, ip as u16, 1, 6, 9)));
    }
}

#[test]
fn mix64_avalanche() {
    let mut rng = Rng::new(99);
    let samples = 2000;
    let mut worst_bit_avg = (f64::MAX, f64::MIN);
    let mut total = 0u64;
    for bit in 0..64 {
        let mut flips = 0u64;
        for _ in 0..samples {
            let x = rng.next_u64();
            flips += u64::from((mix64(x) ^ mix64(x ^ (1 << bit))).count_ones());
        }
        let avg = flips as f64 / samples as f64;
        worst_bit_avg = (worst_bit_avg.0.min(avg), worst_bit_avg.1.max(avg));
        total += flips;
        assert!((20.0..=44.0).contains(&avg), "bit {bit}: {avg} bits flip");
    }
    let avg = total as f64 / (64 * samples) as f64;
    assert!((30.0..=34.0).contains(&avg), "overall {avg}");
    // Also the composed tuple hash, flipping single bits of the source port.
    for bit in 0..16 {
        let mut flips = 0u64;
        for _ in 0..samples {
            let x = rng.next_u64();
            let a = hash_tuple(x as u32, (x >> 32) as u32, 1234, 80, 6, 0);
            let b = hash_tuple(x as u32, (x >> 32) as u32, 1234 ^ (1 << bit), 80, 6, 0);
            flips += u64::from((a ^ b).count_ones());
        }
        let avg = flips as f64 / samples as f64;
        assert!((20.0..=44.0).contains(&avg), "port bit {bit}: {avg}");
    }
}

#[test]
fn rng_deterministic_and_seed_dependent() {
    let a: Vec<u64> = {
        let mut r = Rng::new(42);
        (0..16).map(|_| r.next_u64()).collect()
    };
    let b: Vec<u64> = {
        let mut r = Rng::new(42);
        (0..16).map(|_| r.next_u64()).collect()
    };
    let c: Vec<u64> = {
        let mut r = Rng::new(43);
        (0..16).map(|_| r.next_u64()).collect()
    };
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().zip(&c).all(|(x, y)| x != y));
    // Not stuck, even from seed 0.
    let mut r = Rng::new(0);
    let first = r.next_u64();
    assert!((0..100).any(|_| r.next_u64() != first));
    // Roughly balanced bits.
    let mut r = Rng::new(5);
    let ones: u32 = (0..10_000).map(|_| r.next_u64().count_ones()).sum();
    let avg = f64::from(ones) / 10_000.0;
    assert!((31.0..=33.0).contains(&avg), "{avg}");
}

#[test]
fn prime_helpers() {
    assert!(is_prime(65537));
    assert!(!is_prime(65536));
    assert!(is_prime(100_003));
    assert!(!is_prime(100_001)); // 11 * 9091
    assert!(!is_prime(0) && !is_prime(1));
    assert!(is_prime(2) && is_prime(3));
    assert_eq!(next_prime(100_000), 100_003);
    assert_eq!(next_prime(65536), 65537);
    assert_eq!(next_prime(65537), 65537);
    assert!(is_prime(next_prime(1_000_000)));
}
