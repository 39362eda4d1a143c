//! Replays every input in `fuzz/corpus/<target>/` (seeds, and inputs that
//! once crashed a fuzzer) through the same harness the fuzzers run, so a
//! fixed crash stays fixed without a fuzzing toolchain.

use std::path::Path;

#[test]
fn every_corpus_input_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut total = 0;
    for (target, run) in roost::fuzzing::TARGETS {
        let dir = root.join(target);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        assert!(!entries.is_empty(), "{target} has no corpus");
        for path in entries {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{} panicked", path.display());
            total += 1;
        }
    }
    assert!(total >= roost::fuzzing::TARGETS.len());
}
