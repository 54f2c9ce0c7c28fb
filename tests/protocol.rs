//! The file protocol end to end: `ufl-oracle cases` writes the inputs, a backend (the plain
//! float32 test backend) writes `ufl-results/1`, `ufl-oracle check` judges it — exit 0 for a
//! correct backend, 1 for a planted bug or a missing result, 2 for an unusable results file.

mod backends;

use backends::{run, Bug, Knobs};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use ufl_oracle::harness::Response;
use ufl_oracle::io::json_number;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ufl-oracle"))
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ufl-oracle-protocol-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_cli(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ufl-oracle check` of `results` against the case file `cases`.
fn check(cases: &Path, results: &Path) -> (i32, String, String) {
    run_cli(
        bin()
            .arg("check")
            .arg("--cases")
            .arg(cases)
            .arg("--results")
            .arg(results)
            .arg("--report")
            .arg(results.with_extension("report.json")),
    )
}

/// Writes the results of the test backend with `knobs` for every case of `cases.json`.
fn write_results(cases_file: &Path, knobs: &Knobs, out: &Path, edit: impl Fn(&mut Vec<Value>)) {
    let file = ufl_oracle::fixtures::read(cases_file).unwrap();
    let mut list = Vec::new();
    for c in &file.cases {
        let case = ufl_oracle::results::case_from_file(c).unwrap();
        let entry = match run(&case, knobs) {
            Response::Output { loss, grad } => {
                json!({"id": case.id, "loss": loss.iter().map(|&x| json_number(x)).collect::<Vec<_>>(), "grad": grad.iter().map(|&x| json_number(x)).collect::<Vec<_>>()})
            }
            Response::Error(e) => json!({"id": case.id, "error": e}),
            Response::Skip(s) => json!({"id": case.id, "skip": s}),
            Response::Missing => json!({"id": case.id, "skip": "no answer"}),
        };
        list.push(entry);
    }
    edit(&mut list);
    let root = json!({"format": "ufl-results/1", "backend": {"name": "test backend", "precision": "float32"}, "cases": list});
    std::fs::write(out, root.to_string()).unwrap();
}

#[test]
fn cases_then_results_then_check() {
    let dir = scratch("roundtrip");
    let (code, out, err) = run_cli(
        bin()
            .args(["cases", "--groups", "edge", "--filter", "unified"])
            .arg("--out")
            .arg(&dir),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cases written"), "{out}");
    let cases = dir.join("cases.json");

    // A correct backend passes.
    let good = dir.join("good.json");
    write_results(&cases, &Knobs::PLAIN, &good, |_| {});
    let (code, out, err) = check(&cases, &good);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(" 0 failed"), "{out}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("good.report.json")).unwrap())
            .unwrap();
    assert_eq!(report["format"], "ufl-report/1");
    assert_eq!(report["summary"]["failed"], 0);

    // A planted bug is a mismatch, with a diagnosis.
    let bad = dir.join("bad.json");
    write_results(&cases, &Knobs::with_bug(Bug::LambdaSwapped), &bad, |_| {});
    let (code, out, _) = check(&cases, &bad);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL ") && out.contains("diagnosis: matches"),
        "{out}"
    );

    // A missing result is a failure, not a skip.
    let missing = dir.join("missing.json");
    write_results(&cases, &Knobs::PLAIN, &missing, |l| {
        l.remove(0);
    });
    let (code, out, _) = check(&cases, &missing);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no result was given for this case"), "{out}");

    // A loss of the wrong length is unusable input (exit 2), as a gradient of the wrong length
    // is, explained without comparing past the end of either output.
    let short_loss = dir.join("short-loss.json");
    write_results(&cases, &Knobs::PLAIN, &short_loss, |l| {
        let e = l.iter_mut().find(|e| e.get("loss").is_some()).unwrap();
        e["loss"] = json!([]);
    });
    let (code, out, err) = check(&cases, &short_loss);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        out.contains("UNUSABLE") && out.contains("the loss has 0 entries"),
        "{out}"
    );

    // A result for a case the case file lacks is a warning: a results file may answer more
    // cases than one run checks.
    let extra = dir.join("extra.json");
    write_results(&cases, &Knobs::PLAIN, &extra, |l| {
        l.push(json!({"id": "no/such/case", "skip": "x"}))
    });
    let (code, out, err) = check(&cases, &extra);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("warning: 1 results name no case") && err.contains("no/such/case"),
        "{err}"
    );

    // Nothing compared is not a pass: every case skipped.
    let all_skipped = dir.join("all-skipped.json");
    write_results(&cases, &Knobs::PLAIN, &all_skipped, |l| {
        for e in l.iter_mut() {
            *e = json!({"id": e["id"], "skip": "not built"});
        }
    });
    let (code, out, _) = check(&cases, &all_skipped);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not ok: no case was compared"), "{out}");

    // A case the oracle refuses for its own reasons (δ outside its range) is unusable input,
    // never "the reference raises", whatever the backend answers.
    let mut text: Value = serde_json::from_str(&std::fs::read_to_string(&cases).unwrap()).unwrap();
    text["cases"][0]["params"] = json!({"delta": 5.0});
    let refused_id = text["cases"][0]["id"].as_str().unwrap().to_string();
    let refused_cases = dir.join("refused-cases.json");
    std::fs::write(&refused_cases, text.to_string()).unwrap();
    let refused = dir.join("refused.json");
    write_results(&cases, &Knobs::PLAIN, &refused, |l| {
        l[0] = json!({"id": refused_id, "error": "ValueError: delta"});
    });
    let (code, out, err) = check(&refused_cases, &refused);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(out.contains("UNUSABLE") && out.contains("delta"), "{out}");

    // Unusable results files: a duplicate, a gradient of the wrong length, a `skip` or `error`
    // that is not a string, an output beside a skip.
    for (name, edit) in [
        (
            "duplicate",
            Box::new(|l: &mut Vec<Value>| {
                let first = l[0].clone();
                l.push(first)
            }) as Box<dyn Fn(&mut Vec<Value>)>,
        ),
        (
            "skip-false",
            Box::new(|l: &mut Vec<Value>| {
                let e = l.iter_mut().find(|e| e.get("grad").is_some()).unwrap();
                e["skip"] = json!(false);
            }),
        ),
        (
            "error-number",
            Box::new(|l: &mut Vec<Value>| l[0] = json!({"id": l[0]["id"], "error": 1})),
        ),
        (
            "output-and-skip",
            Box::new(|l: &mut Vec<Value>| {
                let e = l.iter_mut().find(|e| e.get("grad").is_some()).unwrap();
                e["skip"] = json!("not built");
            }),
        ),
        (
            "short-gradient",
            Box::new(|l: &mut Vec<Value>| {
                let e = l.iter_mut().find(|e| e.get("grad").is_some()).unwrap();
                e["grad"].as_array_mut().unwrap().pop();
            }),
        ),
    ] {
        let path = dir.join(format!("{name}.json"));
        write_results(&cases, &Knobs::PLAIN, &path, edit);
        let (code, out, err) = check(&cases, &path);
        assert_eq!(code, 2, "{name}: {out}\n{err}");
        assert!(err.contains("error:"), "{name}: {err}");
    }
}

#[test]
fn large_arrays_travel_as_npy_and_fixture_files_serve_as_cases() {
    let dir = scratch("large");
    let (code, out, err) = run_cli(
        bin()
            .args(["cases", "--groups", "large", "--filter", "original"])
            .arg("--out")
            .arg(&dir),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("1 cases"), "{out}");
    let text = std::fs::read_to_string(dir.join("cases.json")).unwrap();
    assert!(
        text.contains("arrays/00000-pred.npy"),
        "large arrays are written beside the file"
    );
    let file = ufl_oracle::fixtures::read(&dir.join("cases.json")).unwrap();
    assert_eq!(file.cases[0].y_pred.len(), 4 * 256 * 256 * 2);
    // A fixture file's inputs are cases too: the recorded MONAI outputs checked as results.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/monai/asymmetric.json");
    let recorded = ufl_oracle::fixtures::read(&fixture).unwrap();
    let list: Vec<Value> = recorded
        .cases
        .iter()
        .filter(|c| c.dtype == ufl_oracle::Dtype::F32)
        .map(|c| match &c.expected {
            ufl_oracle::fixtures::Expected::Error(e) => json!({"id": c.id, "error": e}),
            ufl_oracle::fixtures::Expected::Value { loss, grad, .. } => json!({"id": c.id, "loss": loss.iter().map(|&x| json_number(x)).collect::<Vec<_>>(), "grad": grad.as_ref().unwrap().iter().map(|&x| json_number(x)).collect::<Vec<_>>()}),
            ufl_oracle::fixtures::Expected::Inputs => json!({"id": c.id, "skip": "none"}),
        })
        .collect();
    let results = dir.join("monai-results.json");
    std::fs::write(&results, json!({"format": "ufl-results/1", "backend": {"name": "MONAI 1.6.1", "precision": "float32"}, "cases": list}).to_string()).unwrap();
    // The float64 cases have no result: restrict the case set to the float32 ones by writing them.
    let f32_cases: Vec<_> = recorded
        .cases
        .iter()
        .filter(|c| c.dtype == ufl_oracle::Dtype::F32)
        .map(|c| ufl_oracle::results::case_from_file(c).unwrap())
        .collect();
    let case_dir = dir.join("monai-cases");
    ufl_oracle::results::write_cases(&f32_cases, &case_dir).unwrap();
    let (code, out, err) = run_cli(
        bin()
            .arg("check")
            .arg("--cases")
            .arg(case_dir.join("cases.json"))
            .arg("--results")
            .arg(&results),
    );
    assert_eq!(code, 0, "{out}\n{err}");
}

/// Integer parameters travel as JSON integers (`rare_classes` here), and a case file holding
/// them as integral floats, as files written before do, is still read.
#[test]
fn integer_parameters_are_json_integers_and_integral_floats_are_still_read() {
    let dir = scratch("integers");
    let (code, out, err) = run_cli(
        bin()
            .args(["cases", "--groups", "edge", "--filter", "rare"])
            .arg("--out")
            .arg(&dir),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("18 cases"), "{out}");
    let cases = dir.join("cases.json");
    let mut file: Value = serde_json::from_str(&std::fs::read_to_string(&cases).unwrap()).unwrap();
    let several = file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["params"]["rare_classes"]
                .as_array()
                .is_some_and(|l| l.len() == 2)
        })
        .expect("a case with two rare classes");
    assert_eq!(
        several["params"]["rare_classes"],
        json!([1, 3]),
        "{several}"
    );
    assert!(several["params"]["rare_classes"][0].is_u64());
    // The same file with integral floats: read, checked, passed.
    for c in file["cases"].as_array_mut().unwrap() {
        if let Some(list) = c["params"]["rare_classes"].as_array_mut() {
            for v in list.iter_mut() {
                *v = json!(v.as_f64().unwrap());
            }
        }
    }
    let floats = dir.join("floats.json");
    std::fs::write(&floats, file.to_string()).unwrap();
    assert!(std::fs::read_to_string(&floats)
        .unwrap()
        .contains("[1.0,3.0]"));
    let good = dir.join("good.json");
    write_results(&cases, &Knobs::PLAIN, &good, |_| {});
    let (code, out, err) = check(&floats, &good);
    assert_eq!(code, 0, "{out}\n{err}");
}
