//! The harness proves its two numbers here: sensitivity (every planted bug of the catalogue in
//! `tests/backends` is caught over the default case set) and specificity (correct backends that
//! sum in another order, group operations differently, or take half-precision inputs, and the
//! recorded MONAI outputs under `monai`, are never failed). Prints the kill/false-alarm tally.

mod backends;

use backends::{run, Bug, Knobs, Summation};
use std::collections::HashMap;
use ufl_oracle::cases::{default_cases, fixture_case, DEFAULT_SEED};
use ufl_oracle::fixtures::{self, Expected};
use ufl_oracle::harness::{Harness, Response};
use ufl_oracle::tolerance::{Declared, Precision};

fn harness(declared: Declared) -> Harness {
    Harness::new(default_cases(DEFAULT_SEED), declared)
}

/// The diagnosis of a failed case, if it has one.
fn diagnosis(r: &ufl_oracle::harness::CaseResult) -> Option<&str> {
    match &r.verdict {
        ufl_oracle::harness::Verdict::Fail {
            diagnosis: Some(d), ..
        } => Some(d.as_str()),
        _ => None,
    }
}

#[test]
fn correct_backends_are_never_failed_and_every_planted_bug_is_caught() {
    let f32_harness = harness(Declared::F32);
    let mut false_alarms = Vec::new();
    let correct = [
        ("plain float32 loops", Knobs::PLAIN),
        (
            "float32, pairwise sums",
            Knobs {
                summation: Summation::Pairwise,
                ..Knobs::PLAIN
            },
        ),
        (
            "float32, another operation order",
            Knobs {
                other_order: true,
                ..Knobs::PLAIN
            },
        ),
    ];
    for (name, knobs) in correct {
        let report = f32_harness.run(|case| run(case, &knobs));
        let t = report.tally();
        println!("correct backend `{name}`: {}", report.summary());
        assert!(
            t.passed > 1000,
            "{name}: too few cases checked: {}",
            report.summary()
        );
        if !report.is_ok() {
            false_alarms.push(format!("{name}:\n{report}"));
        }
    }
    for (name, inputs) in [
        ("float16 inputs, float32 arithmetic", Precision::F16),
        ("bfloat16 inputs, float32 arithmetic", Precision::BF16),
    ] {
        let declared = Declared::mixed(Precision::F32, inputs);
        let knobs = Knobs {
            inputs: Some(inputs),
            ..Knobs::PLAIN
        };
        let report = harness(declared).run(|case| run(case, &knobs));
        println!("correct backend `{name}`: {}", report.summary());
        assert!(
            report.tally().passed > 1000,
            "{name}: too few cases checked: {}",
            report.summary()
        );
        if !report.is_ok() {
            false_alarms.push(format!("{name}:\n{report}"));
        }
    }
    let mut missed = Vec::new();
    for bug in Bug::ALL {
        let knobs = Knobs::with_bug(bug);
        let report = f32_harness.run(|case| run(case, &knobs));
        let caught = report.tally().failed;
        let first = report.failures().next().map(|r| {
            let diagnosis = match &r.verdict {
                ufl_oracle::harness::Verdict::Fail {
                    diagnosis: Some(d), ..
                } => d.clone(),
                _ => String::new(),
            };
            format!("{} — {diagnosis}", r.id)
        });
        println!(
            "mutant `{}`: caught by {caught} cases; first: {}",
            bug.describe(),
            first.unwrap_or_default()
        );
        if caught == 0 {
            missed.push(bug.describe());
        }
    }
    println!(
        "kill/false-alarm tally: {} of {} mutants killed, {} false alarms over 5 correct backends",
        Bug::ALL.len() - missed.len(),
        Bug::ALL.len(),
        false_alarms.len()
    );
    assert!(missed.is_empty(), "mutants not caught: {missed:?}");
    assert!(
        false_alarms.is_empty(),
        "false alarms:\n{}",
        false_alarms.join("\n")
    );
}

#[test]
fn the_recorded_monai_outputs_pass_under_monai() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/monai/asymmetric.json");
    let file = fixtures::read(&path).unwrap();
    let mut recorded: HashMap<String, Expected> = HashMap::new();
    let mut by_dtype: HashMap<&str, Vec<_>> = HashMap::new();
    for c in &file.cases {
        let case = fixture_case(c).unwrap();
        recorded.insert(case.id.clone(), c.expected.clone());
        by_dtype.entry(c.dtype.name()).or_default().push(case);
    }
    for (dtype, cases) in by_dtype {
        let precision = Precision::parse(dtype).unwrap();
        let n = cases.len();
        let report = Harness::new(cases, Declared::uniform(precision)).run(|case| match &recorded
            [&case.id]
        {
            Expected::Error(e) => Response::Error(e.clone()),
            Expected::Value { loss, grad, .. } => Response::Output {
                loss: loss.clone(),
                grad: grad.clone().unwrap_or_default(),
            },
            Expected::Inputs => Response::Missing,
        });
        println!("MONAI {dtype} outputs: {}", report.summary());
        assert_eq!(report.results.len(), n);
        report.assert_ok();
    }
}

#[test]
fn a_failure_report_names_the_case_and_what_it_matches() {
    let cases: Vec<_> = default_cases(DEFAULT_SEED)
        .into_iter()
        .filter(|c| {
            c.id.starts_with("edge/asym_unified_focal_loss/original/1x4x4x2/softmax/")
        })
        .collect();
    assert!(!cases.is_empty());
    let h = Harness::new(cases, Declared::F32);
    let knobs = Knobs::with_bug(Bug::LambdaSwapped);
    let report = h.run(|case| run(case, &knobs));
    let text = report.to_string();
    // At the default weight 0.5 the swap is invisible; away from it, it is caught and named.
    assert!(
        !text.contains("FAIL edge/asym_unified_focal_loss/original/1x4x4x2/softmax/default\n"),
        "{text}"
    );
    assert!(
        text.contains("FAIL edge/asym_unified_focal_loss/original/1x4x4x2/softmax/off-default"),
        "{text}"
    );
    assert!(text.contains("`weight` on the other term"), "{text}");
    assert!(
        text.contains("expected") && text.contains("bound"),
        "{text}"
    );
    // Gradient entries by flat and multi-index (the prediction is (1, 4, 4, 2)), and the line
    // that re-runs the case selects exactly it.
    assert!(
        text.lines().any(|l| l.trim_start().starts_with('[')
            && l.contains("] = (0, ")
            && l.contains("expected")),
        "{text}"
    );
    let id = "edge/asym_unified_focal_loss/original/1x4x4x2/softmax/off-default";
    let rerun = format!("UFL_ORACLE_TEST='id={id}' UFL_ORACLE_SEED={DEFAULT_SEED} cargo test");
    assert!(text.contains(&format!("re-run: {rerun}")), "{text}");
    let only = ufl_oracle::cases::Filter::parse(&format!("id={id}"));
    let selected: Vec<_> = default_cases(DEFAULT_SEED)
        .into_iter()
        .filter(|c| only.matches(c))
        .collect();
    assert_eq!(selected.len(), 1);
    assert_eq!(selected[0].id, id);
    // A panicking backend is a failure, not a crash of the harness.
    let report = h.run(|_| panic!("kernel exploded"));
    assert!(report
        .to_string()
        .contains("the backend panicked: kernel exploded"));
    assert_eq!(report.tally().failed, report.results.len());
    // Skips are counted, never passed, and a run that compared nothing is not ok.
    let report = h.run(|_| Response::Skip("not built".into()));
    assert_eq!(report.tally().skipped, report.results.len());
    assert!(!report.is_ok() && report.tally().passed == 0);
    assert_eq!(report.problem().as_deref(), Some("no case was compared"));
    assert!(report.to_string().contains("not ok: no case was compared"));
}

#[test]
fn a_float16_input_backend_passes_the_f16_group() {
    let cases = ufl_oracle::cases::float16_cases();
    assert!(cases
        .iter()
        .all(|c| c.id.starts_with("f16/") && c.in_group("f16")));
    let declared = Declared::mixed(Precision::F32, Precision::F16);
    let knobs = Knobs {
        inputs: Some(Precision::F16),
        ..Knobs::PLAIN
    };
    let report = Harness::new(cases, declared).run(|case| run(case, &knobs));
    println!(
        "float16-input backend on the f16 group: {}",
        report.summary()
    );
    report.assert_ok();
}

/// In a case holding entries nothing can be compared in, every other entry is still compared:
/// scaling the entries that have a finite tolerance (the determined ones by 3; every finite one
/// by 10⁶) fails every such case where the change exceeds some entry's tolerance.
#[test]
fn corrupting_the_comparable_entries_of_undetermined_cases_is_caught() {
    use ufl_oracle::harness::Verdict;
    let h = harness(Declared::F32);
    let report = h.run(|case| run(case, &Knobs::PLAIN));
    let undetermined: Vec<&str> = report
        .results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Undetermined { .. }))
        .map(|r| r.id.as_str())
        .collect();
    println!(
        "undetermined under the correct backend: {}",
        undetermined.len()
    );
    assert!(undetermined.len() >= 5, "{}", report.summary());
    let expectations: HashMap<&str, _> = h
        .expectations()
        .iter()
        .map(|e| (e.case.id.as_str(), e))
        .collect();
    for (factor, only_determined) in [(3.0, true), (1e6, false)] {
        let should_fail = std::cell::RefCell::new(Vec::new());
        let corrupted = h.run(|case| {
            let response = run(case, &Knobs::PLAIN);
            if !undetermined.contains(&case.id.as_str()) {
                return response;
            }
            let Response::Output { loss, mut grad } = response else {
                return response;
            };
            let tol = expectations[case.id.as_str()].tolerances.as_ref().unwrap();
            let mut visible = false;
            for (g, t) in grad.iter_mut().zip(&tol.grad) {
                let comparable = t.tol.is_finite() && g.is_finite();
                if comparable && (!only_determined || !t.undetermined) {
                    visible |= ((factor - 1.0) * *g).abs() > 2.0 * t.tol;
                    *g *= factor;
                }
            }
            if visible {
                should_fail.borrow_mut().push(case.id.clone());
            }
            Response::Output { loss, grad }
        });
        let should_fail = should_fail.into_inner();
        let failed: Vec<&str> = corrupted.failures().map(|r| r.id.as_str()).collect();
        let missed: Vec<&String> = should_fail
            .iter()
            .filter(|id| !failed.contains(&id.as_str()))
            .collect();
        println!(
            "×{factor} on the {} entries of undetermined cases: {} should fail, {} failed",
            if only_determined {
                "determined"
            } else {
                "comparable"
            },
            should_fail.len(),
            failed.len()
        );
        assert!(!should_fail.is_empty());
        assert!(missed.is_empty(), "not caught: {missed:?}");
    }
}

/// A perfect, on-bound prediction of the original `focal_tversky_loss`: `1 - TI` is within
/// float32 rounding of 0 in every class, so every finite gradient entry went through `x^-¼` of
/// an operand without a significant digit. The float32 evaluator's own answer is not failed;
/// the same answer with every finite gradient entry scaled by 10⁶ is, entry by entry.
#[test]
fn a_perfect_on_bound_focal_tversky_answer_scaled_by_a_million_fails() {
    use ufl_oracle::cases::Case;
    use ufl_oracle::harness::Verdict;
    use ufl_oracle::{Dtype, Layout, Params, Problem, Tensor};
    let eps = 1e-7f32 as f64;
    let (target, pred): (Vec<f64>, Vec<f64>) = (0..16)
        .flat_map(|i| {
            let fg = if i % 3 == 0 { 1.0 } else { 0.0 };
            [1.0 - fg, fg]
        })
        .map(|y: f64| {
            (
                y,
                if y == 1.0 {
                    (1.0 - 1e-7f32) as f64
                } else {
                    eps
                },
            )
        })
        .unzip();
    let shape = vec![1, 4, 4, 2];
    let problem = Problem::named(
        "focal_tversky_loss",
        "original",
        Params::new(),
        Tensor::new("prediction", shape.clone(), pred).unwrap(),
        Tensor::new("target", shape, target).unwrap(),
        Layout::ChannelsLast,
        Dtype::F32,
    )
    .unwrap();
    let answer = problem.evaluate_in::<f32>(true).unwrap();
    let tol = problem.tolerances(Declared::F32).unwrap();
    assert!(
        tol.grad
            .iter()
            .all(|t| t.undetermined && t.lost && t.tol.is_finite()),
        "{tol:?}"
    );
    let case = Case {
        id: "perfect/on-bound/focal_tversky_loss".into(),
        groups: vec!["perfect".into()],
        problem,
        seed: None,
    };
    let h = Harness::new(vec![case], Declared::F32);
    let respond = |scale: f64| {
        let loss: Vec<f64> = answer.loss.iter().map(|&l| l as f64).collect();
        let grad: Vec<f64> = answer
            .grad
            .as_ref()
            .unwrap()
            .iter()
            .map(|&g| {
                if g.is_finite() {
                    g as f64 * scale
                } else {
                    g as f64
                }
            })
            .collect();
        Response::Output { loss, grad }
    };
    let honest = h.run(|_| respond(1.0));
    assert!(
        !matches!(honest.results[0].verdict, Verdict::Fail { .. }),
        "{honest}"
    );
    let scaled = h.run(|_| respond(1e6));
    println!("{scaled}");
    assert!(
        matches!(scaled.results[0].verdict, Verdict::Fail { .. }),
        "{scaled}"
    );
}

/// Each planted swap is named by its own diagnosis variant in at least 80% of the cases it
/// fails: δ in the Tversky index only, δ in the focal weights only, λ on the other term.
#[test]
fn each_planted_swap_is_named_by_its_own_variant() {
    let h = harness(Declared::F32);
    for (bug, label) in [
        (
            Bug::DeltaOnFalsePositives,
            "the Tversky index weights false positives by δ",
        ),
        (
            Bug::KerasTverskyAlphaBetaSwapped,
            "the Tversky index weights false positives by δ",
        ),
        (Bug::BackgroundWeightDelta, "the focal weights swapped"),
        (Bug::LambdaSwapped, "on the other term"),
    ] {
        let report = h.run(|case| run(case, &Knobs::with_bug(bug)));
        let diagnoses: Vec<&str> = report.failures().filter_map(diagnosis).collect();
        let named = diagnoses.iter().filter(|d| d.contains(label)).count();
        let failed = report.tally().failed;
        println!(
            "{}: {named} of {failed} failures named by `{label}`",
            bug.describe()
        );
        let others: Vec<&&str> = diagnoses
            .iter()
            .filter(|d| !d.contains(label))
            .take(3)
            .collect();
        assert!(failed > 0);
        assert!(
            named * 5 >= failed * 4,
            "{}: {named} of {failed}; e.g. {others:?}",
            bug.describe()
        );
    }
}

/// A backend that ignores the case's layout is caught by a `layout` edge case in the layout
/// that is not its own, for every function in every convention (each accepts both layouts),
/// and the default set holds edge cases in both layouts for every (function, convention).
#[test]
fn a_backend_ignoring_the_layout_is_caught_for_every_function() {
    use ufl_oracle::tensor::Layout;
    let cases = default_cases(DEFAULT_SEED);
    for spec in ufl_oracle::FUNCTIONS {
        for convention in spec.conventions() {
            for layout in [Layout::ChannelsLast, Layout::ChannelsFirst] {
                assert!(
                    cases.iter().any(|c| c.in_group("edge")
                        && c.problem.function == spec.id
                        && c.problem.convention == convention
                        && c.problem.layout == layout),
                    "no {} edge case of {}/{convention}",
                    layout.name(),
                    spec.name
                );
            }
        }
    }
    // Every (function, convention) drawn in the random group is there in both layouts.
    let random: Vec<_> = cases
        .iter()
        .filter(|c| c.in_group("random") && c.problem.pred.shape.len() >= 3)
        .collect();
    for c in &random {
        for layout in [Layout::ChannelsLast, Layout::ChannelsFirst] {
            assert!(
                random
                    .iter()
                    .any(|r| r.problem.function == c.problem.function
                        && r.problem.convention == c.problem.convention
                        && r.problem.layout == layout),
                "no {} random case of {}/{}",
                layout.name(),
                c.problem.function.name(),
                c.problem.convention
            );
        }
    }
    let report = harness(Declared::F32).run(|case| run(case, &Knobs::with_bug(Bug::LayoutIgnored)));
    let mut caught: HashMap<(String, String), usize> = HashMap::new();
    for r in report.failures() {
        *caught
            .entry((r.function.clone(), r.convention.clone()))
            .or_default() += 1;
    }
    // The (function, convention) pairs the test backend computes.
    let covered: std::collections::BTreeSet<(String, String)> = harness(Declared::F32)
        .run(|case| run(case, &Knobs::PLAIN))
        .results
        .iter()
        .filter(|r| matches!(r.verdict, ufl_oracle::harness::Verdict::Pass { .. }))
        .map(|r| (r.function.clone(), r.convention.clone()))
        .collect();
    let mut functions: HashMap<&str, usize> = HashMap::new();
    for (f, c) in &covered {
        *functions.entry(f.as_str()).or_default() +=
            caught.get(&(f.clone(), c.clone())).copied().unwrap_or(0);
    }
    println!("layout ignored, failures per function: {functions:?}");
    // Seed-independent: every (function, convention) the backend computes is caught by a
    // `layout` edge case (deterministic inputs) in the layout that is not the backend's own
    // (channels-last for original, channels-first otherwise). Not by every one: a loss that is
    // a mean of per-entry terms (symmetric focal at δ = 0.5) or constant in the prediction
    // (focal Tversky at γ = 0) answers the same whatever the layout.
    let failed: std::collections::BTreeSet<&str> =
        report.failures().map(|r| r.id.as_str()).collect();
    for (function, convention) in &covered {
        let caught_here = cases.iter().any(|c| {
            let own = match c.problem.convention {
                ufl_oracle::Convention::Original => Layout::ChannelsLast,
                _ => Layout::ChannelsFirst,
            };
            c.in_group("layout")
                && c.problem.function.name() == function
                && c.problem.convention.name() == convention
                && c.problem.layout != own
                && failed.contains(c.id.as_str())
        });
        assert!(
            caught_here,
            "{function}/{convention}: no layout edge case catches it"
        );
    }
}

/// Accumulation as a named cause: a plain sequential float32 loop over a volume of
/// near-uniform predictions exceeds the pairwise (probabilistic) bound; undeclared it fails
/// with a diagnosis that names sequential accumulation, declared `summation = sequential` it
/// passes, and pairwise sums pass undeclared.
#[test]
fn sequential_accumulation_is_named_and_passes_when_declared() {
    use ufl_oracle::cases::Case;
    use ufl_oracle::harness::Verdict;
    use ufl_oracle::tensor::{Dtype, Layout, Tensor};
    use ufl_oracle::tolerance::Summation as Accumulation;
    use ufl_oracle::{Convention, FunctionId, Params, Problem};
    let shape = vec![1, 128, 128, 128, 2];
    let n = shape.iter().product::<usize>();
    // p₁ = 0.05 everywhere; the foreground is the first half of the volume.
    let (fore, back) = (0.05f32 as f64, 0.95f32 as f64);
    let pred: Vec<f64> = (0..n)
        .map(|i| if i % 2 == 1 { fore } else { back })
        .collect();
    let target: Vec<f64> = (0..n)
        .map(|i| {
            let fg = (i / 2) < n / 4;
            if (i % 2 == 1) == fg {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let problem = Problem {
        function: FunctionId::DiceLoss,
        convention: Convention::Original,
        params: Params::new(),
        pred: Tensor::new("prediction", shape.clone(), pred).unwrap(),
        target: Tensor::new("target", shape, target).unwrap(),
        layout: Layout::ChannelsLast,
        dtype: Dtype::F32,
    };
    let cases = vec![Case {
        id: "volume/dice_loss/uniform".into(),
        groups: vec!["volume".into()],
        problem,
        seed: None,
    }];
    let pairwise = Knobs {
        summation: Summation::Pairwise,
        ..Knobs::PLAIN
    };
    let undeclared = Harness::new(cases.clone(), Declared::F32).run(|c| run(c, &Knobs::PLAIN));
    let diagnosis = match &undeclared.results[0].verdict {
        Verdict::Fail {
            diagnosis: Some(d), ..
        } => d.clone(),
        other => panic!("a sequential float32 loop over 2097152 terms passed: {other:?}"),
    };
    println!("undeclared sequential: {diagnosis}");
    assert!(
        diagnosis.contains("consistent with sequential float32 accumulation over 2097152 terms"),
        "{diagnosis}"
    );
    let declared = Declared::F32.with_summation(Accumulation::Sequential);
    let report = Harness::new(cases.clone(), declared).run(|c| run(c, &Knobs::PLAIN));
    assert!(report.is_ok(), "{report}");
    let report = Harness::new(cases, Declared::F32).run(|c| run(c, &pairwise));
    assert!(report.is_ok(), "{report}");
}

/// The behaviours of shipped libraries, planted in the test backend, are diagnosed by name: in
/// the failing cases of the functions each applies to, at least 80% name it.
#[test]
fn library_behaviours_are_diagnosed_by_name() {
    let h = harness(Declared::F32);
    let region = ["dice_loss", "tversky_loss", "focal_tversky_loss"];
    let all: &[&str] = &[];
    for (bug, label, functions) in [
        (
            Bug::FocalTverskyPowerAfterMean,
            "the focal Tversky power applied after the class mean",
            &["focal_tversky_loss"][..],
        ),
        (
            Bug::StatisticsOverBatch,
            "pooled over the batch",
            &region[..],
        ),
        (
            Bug::PresentClassesOnly,
            "averaged over the classes present in the target only",
            &region[..],
        ),
        (
            Bug::EmptyClassesZeroed,
            "no positive pixel zeroed",
            &region[..],
        ),
        (
            Bug::SmoothingInDenominatorOnly,
            "the smoothing in the denominator only",
            &region[..],
        ),
        (
            Bug::NoClip,
            "predictions not clipped",
            &["focal_tversky_loss"][..],
        ),
        (Bug::GradientProjected, "projected onto the simplex", all),
        (
            Bug::HalfGradientWhereEqual,
            "halved where the prediction equals the target",
            all,
        ),
    ] {
        let report = h.run(|case| run(case, &Knobs::with_bug(bug)));
        let diagnoses: Vec<&str> = report
            .failures()
            .filter(|r| {
                functions.is_empty()
                    || (r.convention == "original" && functions.contains(&r.function.as_str()))
            })
            .filter_map(diagnosis)
            .collect();
        let named = diagnoses.iter().filter(|d| d.contains(label)).count();
        println!("{}: {named} of {} named", bug.describe(), diagnoses.len());
        let others: Vec<&&str> = diagnoses
            .iter()
            .filter(|d| !d.contains(label))
            .take(2)
            .collect();
        assert!(!diagnoses.is_empty(), "{}: not caught", bug.describe());
        assert!(
            named * 5 >= diagnoses.len() * 4,
            "{}: {named} of {}; e.g. {others:?}",
            bug.describe(),
            diagnoses.len()
        );
    }
}

/// The framework groupings hold in float64 too: an independent float64 backend computing
/// `paper` on saturated logits as autograd does (with the cross entropy through a log-softmax
/// or through the log of the softmax) passes every logits case judged at float64; the same
/// backend returning a float32 loss fails, diagnosed by name.
#[test]
fn a_float64_framework_backend_passes_the_logits_cases() {
    let cases: Vec<_> = default_cases(DEFAULT_SEED)
        .into_iter()
        .filter(|c| c.in_group("logits"))
        .collect();
    let h = Harness::new(cases, Declared::F64);
    use backends::float64::Grouping;
    let plain = Grouping::default();
    let log_softmax = Grouping {
        log_softmax: true,
        ..plain
    };
    let other_order = Grouping {
        other_order: true,
        ..plain
    };
    for (name, grouping) in [
        ("as written", plain),
        ("log-softmax", log_softmax),
        ("FN = Σy - TP, FP = Σq - TP, exp(e·ln x)", other_order),
    ] {
        let report = h.run(|case| backends::float64::run(case, grouping));
        println!(
            "float64 framework backend ({name}) on the logits cases: {}",
            report.summary()
        );
        assert!(report.tally().passed >= 20, "{}", report.summary());
        report.assert_ok();
    }
    // The two groupings really differ somewhere (in the last bits), so both are tested.
    let differ = h
        .expectations()
        .iter()
        .filter(|e| {
            let a = backends::float64::run(&e.case, plain);
            a != backends::float64::run(&e.case, log_softmax)
                && a != backends::float64::run(&e.case, other_order)
        })
        .count();
    assert!(differ > 0, "a grouping changed no output");
    let float32_loss = Grouping {
        float32_loss: true,
        ..plain
    };
    let report = h.run(|case| backends::float64::run(case, float32_loss));
    let failed = report.tally().failed;
    let named = report
        .failures()
        .filter_map(diagnosis)
        .filter(|d| d.contains("a float32 loss for float64 input"))
        .count();
    println!("float32 loss for float64 input: {named} of {failed} failures named");
    assert!(failed > 0 && named * 5 >= failed * 4, "{named} of {failed}");
}

/// The crate's own evaluator in `T`, as a backend computing in `T` whatever the case's dtype.
fn evaluator_in<T: ufl_oracle::Real + Into<f64>>(case: &ufl_oracle::cases::Case) -> Response {
    match case.problem.evaluate_in::<T>(true) {
        Ok(out) => case.respond(&out.loss, &out.grad.unwrap_or_default()),
        Err(e) => Response::Error(e.to_string()),
    }
}

/// Each case judged at its own dtype, in one run (`Judging::PER_CASE`, the default): a backend
/// that computes in the case's dtype passes the default set, float32 and float64 cases alike;
/// so does one that computes every case in float64 (more accurate than a float32 case asks);
/// one that computes every case in float32 fails float64 cases, and only those.
#[test]
fn each_case_is_judged_at_its_own_dtype_in_one_run() {
    use ufl_oracle::harness::Judging;
    use ufl_oracle::Dtype;
    let cases = default_cases(DEFAULT_SEED);
    let count = |dtype| cases.iter().filter(|c| c.dtype() == dtype).count();
    let (f32_cases, f64_cases) = (count(Dtype::F32), count(Dtype::F64));
    assert!(
        f32_cases > 500 && f64_cases > 30,
        "{f32_cases} float32, {f64_cases} float64"
    );
    let harness = Harness::new(cases, Judging::default());
    assert_eq!(harness.judging, Judging::PER_CASE);

    let in_its_dtype = harness.run(|case| match case.dtype() {
        Dtype::F32 => evaluator_in::<f32>(case),
        Dtype::F64 => evaluator_in::<f64>(case),
    });
    println!("in the case's dtype: {}", in_its_dtype.summary());
    in_its_dtype.assert_ok();
    // Undetermined entries are shown with the oracle's value, the answer and the bound.
    let text = in_its_dtype.to_string();
    assert!(in_its_dtype.tally().undetermined > 0);
    assert!(
        text.lines().any(|l| l.contains("entries not comparable"))
            && text.lines().any(|l| l.trim_start().starts_with('[')
                && l.contains(" bound ")
                && l.contains(": ")),
        "{text}"
    );
    let per_dtype = in_its_dtype.tally_by_function_and_dtype();
    for dtype in ["float32", "float64"] {
        let passed: usize = per_dtype
            .iter()
            .filter(|((_, d, judged), _)| *d == dtype && judged.contains(dtype))
            .map(|(_, t)| t.passed)
            .sum();
        assert!(
            passed > 30,
            "{passed} {dtype} cases passed at {dtype}: {per_dtype:?}"
        );
    }

    let all_f64 = harness.run(evaluator_in::<f64>);
    println!("all in float64: {}", all_f64.summary());
    all_f64.assert_ok();

    let all_f32 = harness.run(evaluator_in::<f32>);
    println!("all in float32: {}", all_f32.summary());
    let failed: Vec<&ufl_oracle::harness::CaseResult> = all_f32.failures().collect();
    assert!(
        !failed.is_empty(),
        "float32 arithmetic passed every float64 case"
    );
    for r in failed {
        let case = harness
            .expectations()
            .iter()
            .find(|e| e.case.id == r.id)
            .expect("a case of the set");
        assert_eq!(case.case.dtype(), Dtype::F64, "{} failed", r.id);
    }
}

/// A planted bug behind a strict `clamp` is still named by its bug: where the harness accepts
/// every clip-gradient rule on the bounds (`paper`, `monai`), the diagnosis tries each variant
/// under each rule. The answer is the oracle's with δ swapped in the Tversky index and torch
/// 2.15's strict clamp gradient (torch_unified.py's `--bug delta_on_fp` on the bounds cases).
#[test]
fn a_swapped_delta_behind_a_strict_clamp_is_named_on_the_bounds() {
    use ufl_oracle::eval::Overrides;
    use ufl_oracle::terms::ClipGradient;
    let chosen: Vec<_> = default_cases(DEFAULT_SEED)
        .into_iter()
        .filter(|c| {
            c.problem.convention == ufl_oracle::Convention::Paper
                && c.problem.has_input_on_a_clip_bound()
                && c.problem.function.name().contains("tversky")
        })
        .collect();
    assert!(chosen.len() >= 4, "{} cases", chosen.len());
    let planted = Overrides {
        clip_gradient: Some(ClipGradient::Strict),
        swap_tversky_delta: true,
        ..Overrides::default()
    };
    let h = Harness::new(chosen, ufl_oracle::harness::Judging::PER_CASE);
    let report = h.run(|case| {
        let ev = case.problem.evaluate_with(planted).expect("evaluates");
        Response::Output {
            loss: ev.loss,
            grad: ev.grad,
        }
    });
    let failed = report.tally().failed;
    assert!(failed >= 4, "{report}");
    for d in report.failures().filter_map(diagnosis) {
        assert!(
            d.contains("the Tversky index weights false positives by δ"),
            "{d}\n{report}"
        );
    }
}
