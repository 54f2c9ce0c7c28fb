//! Timing of the oracle's answer (value and closed-form gradient, f64 with compensated sums)
//! on the largest shipped fixture inputs, per convention. Each input is first checked against
//! its recorded reference value, so a bench never times a wrong answer.
//!
//! Also: the harness checking one large volume (`check/large/...`).
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

/// The harness checking one large volume, `(1, 2, 128, 128, 128)`: expectation (value,
/// gradient and float32 bounds) and the comparison of a backend's answer, here the oracle's own
/// float32 evaluation computed once beforehand (checked to pass first).
fn check_large(c: &mut Criterion) {
    use ufl_oracle::harness::{Harness, Response};
    use ufl_oracle::tolerance::Declared;
    let case = ufl_oracle::cases::large_cases()
        .into_iter()
        .find(|c| c.id.contains("128x128x128"))
        .expect("the large volume");
    let out = case.problem.evaluate_in::<f32>(true).unwrap();
    let answer = Response::from_f32(&out.loss, &out.grad.unwrap());
    let once = Harness::new(vec![case.clone()], Declared::F32).run(|_| answer.clone());
    assert!(once.is_ok(), "{once}");
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    group.bench_function("large/1x2x128x128x128", |b| {
        b.iter(|| {
            black_box(
                Harness::new(vec![case.clone()], Declared::F32)
                    .run(|_| answer.clone())
                    .is_ok(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench, check_large);
criterion_main!(benches);
