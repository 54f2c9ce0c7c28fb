//! Timing of the oracle's answer (value and closed-form gradient, f64 with compensated sums)
//! on the largest shipped fixture inputs, per convention. Each input is first checked against
//! its recorded reference value, so a bench never times a wrong answer.
//!
//! `cargo bench --bench evaluate`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::PathBuf;
use ufl_oracle::verify::{verify_case, Verdict};
use ufl_oracle::{fixtures, Convention, FunctionId, Layout, Params, Problem};

fn large_cases() -> Vec<fixtures::FixtureCase> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/original/large.json");
    let file = fixtures::read(&path).expect("large fixtures");
    for case in &file.cases {
        let report = verify_case(case);
        assert!(
            matches!(report.verdict, Verdict::Pass { .. }),
            "{}: {:?}",
            case.id,
            report.verdict
        );
    }
    file.cases
}

fn bench(c: &mut Criterion) {
    for case in large_cases() {
        let problem = case.problem().unwrap();
        let name = format!("{}/{:?}/original", case.function_name, case.shape);
        c.bench_function(&name, |b| b.iter(|| black_box(problem.evaluate().unwrap())));
        if case.function == FunctionId::AsymUnifiedFocalLoss {
            for (convention, layout) in [
                (Convention::Paper, Layout::ChannelsLast),
                (Convention::Monai, Layout::ChannelsLast),
            ] {
                let p = Problem {
                    convention,
                    layout,
                    params: Params::new(),
                    ..problem.clone()
                };
                c.bench_function(
                    &format!("{}/{:?}/{convention}", case.function_name, case.shape),
                    |b| b.iter(|| black_box(p.evaluate().unwrap())),
                );
            }
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
