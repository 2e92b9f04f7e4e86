//! What measures the model rather than runs it: the judge (an independent reader of clips), the
//! model card's evaluation, and the latency and op benchmarks. The CLI and the benchmark's
//! research build use these; the product's pipelines never do.

pub mod bench;
pub mod eval;
pub mod judge;
