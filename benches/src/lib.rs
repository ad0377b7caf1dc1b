//! Benchmarks (criterion, under `benches/`) and, later, the `mqbench` load tool.
