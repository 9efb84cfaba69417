//! `make bench`: time and memory of the decisions `lwct-domain` makes on the functions' paths,
//! at the scale of a large organization (10,000 accounts in 1,000 OUs).
//!
//! No benchmark framework: each case runs a fixed number of times after a warm-up and prints
//! the median and the 95th percentile of one run, plus - through a counting global allocator -
//! the allocations and bytes of one run and the most memory it held at once. The numbers are
//! for comparing changes on one machine, not for asserting anything: no test times anything.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lwct_domain::AccountId;
use lwct_domain::custom_resource::continuation::Continuation;
use lwct_domain::custom_resource::parse_request;
use lwct_domain::mapping::{
    AccountMapping, AccountStatus, OrganizationAccount, OrganizationTree, OrganizationalUnit,
    OuRules,
};
use lwct_domain::object_key::ObjectKey;
use lwct_domain::{event, notification};
use serde_json::Value;

/// Counts every allocation, and the bytes live at the worst moment.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What one run of a case cost in memory.
struct Memory {
    allocations: usize,
    bytes: usize,
    /// The most bytes the run held at once, above what was live before it.
    peak: usize,
}

fn memory_of<T>(run: &mut impl FnMut() -> T) -> Memory {
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let bytes = ALLOCATED.load(Ordering::Relaxed);
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    black_box(run());
    Memory {
        allocations: ALLOCATIONS.load(Ordering::Relaxed) - allocations,
        bytes: ALLOCATED.load(Ordering::Relaxed) - bytes,
        peak: PEAK.load(Ordering::Relaxed).saturating_sub(live),
    }
}

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this once per case, to
/// show it still works, without the time a measurement takes.
fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

fn case<T>(name: &str, runs: usize, mut run: impl FnMut() -> T) {
    let runs = if measuring() { runs } else { 1 };
    for _ in 0..runs.div_ceil(10) {
        black_box(run());
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            black_box(run());
            started.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
    let memory = memory_of(&mut run);
    println!(
        "{name:<62} {:>11} {:>11} {:>9} {:>11} {:>11}",
        shown(median),
        shown(p95),
        memory.allocations,
        kib(memory.bytes),
        kib(memory.peak)
    );
}

fn shown(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.2} us")
    } else {
        format!("{:.2} ms", micros / 1000.0)
    }
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn fixture(path: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(path);
    let text =
        std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", file.display()))
}

/// 1,000 OUs (100 under the root, each with 9 nested), 10,000 accounts spread over them,
/// every 50th suspended.
fn large_organization() -> OrganizationTree {
    let mut tree = OrganizationTree::new("r-root");
    for top in 0..100 {
        let top_id = format!("ou-root-{top:04}");
        tree.add_unit(OrganizationalUnit {
            id: top_id.clone(),
            name: format!("Unit{top}"),
            parent_id: "r-root".into(),
        });
        let mut parent = top_id;
        for depth in 1..10 {
            let id = format!("ou-{top:04}-{depth}");
            tree.add_unit(OrganizationalUnit {
                id: id.clone(),
                name: format!("Unit{top}Level{depth}"),
                parent_id: parent,
            });
            parent = id;
        }
    }
    for n in 0..10_000u64 {
        let top = n % 100;
        let depth = (n / 100) % 10;
        let parent = if depth == 0 {
            format!("ou-root-{top:04}")
        } else {
            format!("ou-{top:04}-{depth}")
        };
        tree.add_account(OrganizationAccount {
            id: AccountId::parse(&format!("{:012}", 100_000_000_000 + n)).expect("12 digits"),
            name: format!("account-{n}"),
            parent_id: parent,
            status: if n % 50 == 0 {
                AccountStatus::Suspended
            } else {
                AccountStatus::Active
            },
        });
    }
    tree
}

/// 20 rules on top-level OUs, so every account's ancestors are walked up to the top.
fn rules() -> OuRules {
    let text: Vec<String> = (0..20)
        .map(|n| format!("Unit{}=sub-{}", n * 5, n % 4))
        .collect();
    OuRules::parse(&text.join(",")).expect("valid rules")
}

fn main() {
    if !measuring() {
        println!("one run per case, not a measurement (that is `cargo bench`)");
    }
    println!(
        "{:<62} {:>11} {:>11} {:>9} {:>11} {:>11}",
        "case (one run)", "median", "p95", "allocs", "allocated", "peak"
    );

    let sqs_batch = fixture("lifecycle/sqs-batch-create-ignored-move.json");
    case(
        "event: SQS batch of Control Tower events (SNS in SQS)",
        2_000,
        || event::parse(&sqs_batch),
    );
    let create = fixture("lifecycle/create-managed-account-succeeded.json");
    case("event: one CreateManagedAccount event", 5_000, || {
        event::parse(&create)
    });

    let s3_event = fixture("notifications/s3-event-in-sns.json");
    case("notification: S3 event in SNS, keys decoded", 5_000, || {
        notification::parse(&s3_event)
    });
    let key = "o-abcd1234/AWSLogs/o-abcd1234/123456789012/CloudTrail/us-east-1/2026/11/23/123456789012_CloudTrail_us-east-1_20261123T1205Z_AbCdEfGhIjKlMnOp.json.gz";
    case("object key: one CloudTrail log file key", 20_000, || {
        ObjectKey::parse(key)
    });

    let tree = large_organization();
    let rules = rules();
    case(
        "mapping: build from 10,000 accounts in 1,000 OUs, 20 rules",
        20,
        || AccountMapping::build(&tree, &rules, "acme").expect("builds"),
    );
    let mapping = AccountMapping::build(&tree, &rules, "acme").expect("builds");
    case("mapping: encode for Lacework (10,000 accounts)", 50, || {
        mapping.to_wire()
    });
    let wire = mapping.to_wire();
    case("mapping: decode and validate (10,000 accounts)", 50, || {
        AccountMapping::from_wire(&wire).expect("decodes")
    });
    let mut moved = mapping.clone();
    for n in 0..100u64 {
        let account = AccountId::parse(&format!("{:012}", 100_000_000_001 + n * 7)).expect("12");
        moved.unassign(&account);
        moved.assign(account, "sub-moved").expect("assigns");
    }
    case(
        "mapping: diff after 100 moves (10,000 accounts)",
        50,
        || mapping.diff(&moved),
    );

    let request = fixture("custom-resource/create.json");
    case(
        "custom resource: read a request and its continuation",
        20_000,
        || {
            let parsed = parse_request(&request).expect("a request");
            let continuation =
                Continuation::of_request(&request, std::time::SystemTime::now()).expect("first");
            (parsed, continuation.next().attach_to(&request))
        },
    );
}
