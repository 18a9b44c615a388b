//! Step statistics of the paper's presets, pinned so that any change to a step-size controller
//! shows up in review as a diff of `tests/snapshots/paper_step_stats.txt`.
//!
//! Regenerate after an intended change with `UPDATE_SNAPSHOTS=1 cargo test --test solver_stats`
//! and explain the new numbers in the commit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use nodelab::preset::Preset;
use nodelab::solver::{self, Method};

const SNAPSHOT: &str = "tests/snapshots/paper_step_stats.txt";

fn current_stats() -> String {
    let mut out = String::from("# preset method accepted rejected nfev\n");
    for preset in [
        "paper-p1-bump",
        "paper-p2-kink",
        "paper-van-der-pol",
        "paper-lorenz",
    ] {
        let path = Path::new("presets").join(format!("{preset}.toml"));
        let loaded = Preset::load(&path).unwrap();
        let problem = loaded.build_problem().unwrap();
        for method in Method::ADAPTIVE {
            let mut config = loaded.preset.solver.clone();
            config.method = method;
            let solution = solver::solve(&problem, &config).unwrap();
            assert!(solution.error.is_none(), "{preset} {method}");
            out.push_str(&format!(
                "{preset} {method} {} {} {}\n",
                solution.accepted(),
                solution.rejected(),
                solution.nfev
            ));
        }
    }
    out
}

#[test]
fn paper_preset_step_statistics_are_pinned() {
    let current = current_stats();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        // CI checks the pinned numbers; it must never rewrite them and pass.
        assert!(
            !common::ci(),
            "UPDATE_SNAPSHOTS is set under CI=true: snapshots are updated by hand, not in CI"
        );
        std::fs::write(SNAPSHOT, &current).unwrap();
        return;
    }
    let pinned = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    if pinned != current {
        let diff: Vec<String> = pinned
            .lines()
            .zip(current.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("  pinned:  {a}\n  current: {b}"))
            .collect();
        panic!(
            "step statistics changed (UPDATE_SNAPSHOTS=1 to accept):\n{}",
            if diff.is_empty() {
                format!("pinned:\n{pinned}\ncurrent:\n{current}")
            } else {
                diff.join("\n")
            }
        );
    }
}

#[test]
fn paper_presets_reproduce_the_blind_estimator_on_p1_and_p2() {
    // The printed algorithm takes its first step and jumps to t_end on both quadratures.
    let stats = current_stats();
    for preset in ["paper-p1-bump", "paper-p2-kink"] {
        let line = stats
            .lines()
            .find(|l| l.starts_with(&format!("{preset} zc-rk4-paper ")))
            .unwrap();
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[2], "2", "{line}");
        assert_eq!(fields[3], "0", "{line}");
    }
}
