//! The crate graph, checked: dependencies point inward, and each crate may use only the
//! workspace crates listed for it below. A new edge that is not listed fails here, so a
//! layer cannot quietly start depending on one above it (or an adapter on another).
//!
//! Only normal dependencies count; dev-dependencies may cross (a connector's tests may
//! use the service's clock, the sandbox's tests the connector's receipt mapping).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Each workspace crate and the workspace crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    // Leaves: pure, no I/O.
    ("cascade-pace", &[]),
    // Call media (codecs, RTP, machine detection): pure, like the SMPP core.
    ("cascade-media", &[]),
    ("cascade-core", &[]),
    ("cascade-smpp", &["cascade-pace"]),
    // Storage: the domain only (never a connector: no planner closures, no ports).
    ("cascade-store", &["cascade-core"]),
    // Connectors: the domain, the protocol crates (SMPP, call media) and pacing, nothing else.
    (
        "cascade-providers",
        &[
            "cascade-core",
            "cascade-media",
            "cascade-pace",
            "cascade-smpp",
        ],
    ),
    // The sandbox keeps its state in the store.
    (
        "cascade-sandbox",
        &["cascade-core", "cascade-smpp", "cascade-store"],
    ),
    // The runtime talks to connectors through the ports of cascade-core only.
    (
        "cascade-service",
        &["cascade-core", "cascade-pace", "cascade-store"],
    ),
    // The API: SMPP only for the names of command statuses in sandbox rules.
    (
        "cascade-api",
        &[
            "cascade-core",
            "cascade-pace",
            "cascade-service",
            "cascade-smpp",
            "cascade-store",
        ],
    ),
    // The binary wires everything together.
    (
        "cascade",
        &[
            "cascade-api",
            "cascade-core",
            "cascade-pace",
            "cascade-providers",
            "cascade-sandbox",
            "cascade-service",
            "cascade-store",
        ],
    ),
    (
        "cascade-bench",
        &[
            "cascade",
            "cascade-core",
            "cascade-media",
            "cascade-providers",
            "cascade-sandbox",
            "cascade-service",
            "cascade-store",
        ],
    ),
];

/// Workspace crates and their normal dependencies on other workspace crates.
fn workspace_graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().expect("a package list");
    let members: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    packages
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("a name").to_owned();
            let deps = p["dependencies"]
                .as_array()
                .expect("a dependency list")
                .iter()
                .filter(|d| d["kind"].is_null()) // normal, not dev or build
                .filter_map(|d| d["name"].as_str())
                .filter(|d| members.contains(*d))
                .map(str::to_owned)
                .collect();
            (name, deps)
        })
        .collect()
}

#[test]
fn every_crate_depends_only_on_what_its_layer_may_use() {
    let graph = workspace_graph();
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(name, deps)| (*name, deps.iter().copied().collect()))
        .collect();
    let mut problems = Vec::new();
    for (name, deps) in &graph {
        let Some(may) = allowed.get(name.as_str()) else {
            problems.push(format!(
                "{name} is not in ALLOWED: say which layer it is and what it may use"
            ));
            continue;
        };
        for dep in deps {
            if !may.contains(dep.as_str()) {
                problems.push(format!("{name} must not depend on {dep}"));
            }
        }
    }
    for name in allowed.keys() {
        if !graph.contains_key(*name) {
            problems.push(format!(
                "ALLOWED names {name}, which is not a workspace crate"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_sees_the_edges_it_guards() {
    // The check is only as good as the graph it reads: make sure it is the real one.
    let graph = workspace_graph();
    assert!(graph["cascade-store"].contains("cascade-core"));
    assert!(graph["cascade-providers"].contains("cascade-smpp"));
    assert!(graph["cascade"].contains("cascade-api"));
    assert!(graph.len() >= ALLOWED.len());
}
