//! The `ufl-oracle` binary as a user runs it: its output and its exit codes (0 success,
//! 1 a verified mismatch, 2 unusable input).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ufl-oracle"))
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ufl-oracle-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn list_names_every_function_and_convention() {
    let (code, out, _) = run(bin().arg("list"));
    assert_eq!(code, 0);
    for f in ufl_oracle::FUNCTIONS {
        assert!(out.contains(f.name), "{} missing", f.name);
    }
    assert!(out.contains("AsymmetricUnifiedFocalLoss") && out.contains("rare_classes"));
    let (code, json, _) = run(bin().args(["list", "--json"]));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 12);
}

#[test]
fn verify_fixtures_passes_on_the_shipped_fixtures() {
    let (code, out, err) = run(bin().arg("verify-fixtures").arg(fixtures()));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(
            "791 cases in 6 files: 777 passed, 14 expected deviations, 0 mismatches, 0 unusable"
        ),
        "{out}"
    );
    assert!(out.contains("asym_unified_focal_loss"));
}

/// Writes a fixture file holding the cases of `source` that `keep` selects, after `edit`.
fn derived_fixture(
    dir: &Path,
    name: &str,
    source: &str,
    keep: impl Fn(&Value) -> bool,
    edit: impl Fn(&mut Value),
) -> PathBuf {
    let text = std::fs::read_to_string(fixtures().join(source)).unwrap();
    let mut root: Value = serde_json::from_str(&text).unwrap();
    let cases: Vec<Value> = root["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| keep(c))
        .cloned()
        .map(|mut c| {
            edit(&mut c);
            c
        })
        .collect();
    root["cases"] = Value::Array(cases);
    let path = dir.join(name);
    std::fs::write(&path, root.to_string()).unwrap();
    path
}

#[test]
fn foreign_files_get_verdicts_by_rule_not_by_id() {
    let dir = scratch("foreign");
    // The same inputs under new ids: passes stay passes, deviations are recognised by rule.
    let renamed = derived_fixture(
        &dir,
        "renamed.json",
        "original/symmetric.json",
        |_| true,
        |c| {
            let id = c["id"]
                .as_str()
                .unwrap()
                .replace("/f32/", "/single/")
                .replace("/f64/", "/double/");
            c["id"] = Value::from(format!("other-run/{id}"));
        },
    );
    let (code, out, _) = run(bin().arg("verify-fixtures").arg(&renamed));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("0 mismatches, 0 unusable") && out.contains("5 expected deviations"),
        "{out}"
    );
}

#[test]
fn a_wrong_reference_value_is_a_mismatch_with_exit_1() {
    let dir = scratch("mismatch");
    let bad = derived_fixture(
        &dir,
        "bad.json",
        "original/region.json",
        |c| c["error"].is_null(),
        |c| {
            if c["id"]
                .as_str()
                .unwrap()
                .starts_with("dice_loss/2d/c2/default/softmax-onehot/f32/000")
            {
                let l = c["loss"].as_f64().unwrap();
                c["loss"] = Value::from(l * (1.0 + 1e-3));
            }
        },
    );
    let (code, out, _) = run(bin().arg("verify-fixtures").arg(&bad));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("MISMATCH  dice_loss/2d/c2/default/softmax-onehot/f32/000"),
        "{out}"
    );
}

#[test]
fn unusable_input_exits_2() {
    let dir = scratch("unusable");
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{\"format\": \"ufl-fixtures/1\", \"cases\": [").unwrap();
    let (code, _, err) = run(bin().arg("verify-fixtures").arg(&broken));
    assert_eq!(code, 2);
    assert!(err.contains("invalid JSON"), "{err}");
    let unknown = derived_fixture(
        &dir,
        "unknown.json",
        "original/region.json",
        |c| c["id"].as_str().unwrap().ends_with("/000"),
        |c| {
            c["function"] = Value::from("lovasz_loss");
        },
    );
    let (code, _, err) = run(bin().arg("verify-fixtures").arg(&unknown));
    assert_eq!(code, 2);
    assert!(err.contains("lovasz_loss"), "{err}");
    let (code, _, err) = run(bin().arg("verify-fixtures").arg(dir.join("missing.json")));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn eval_prints_the_loss_and_writes_the_gradient() {
    let dir = scratch("eval");
    let pred = dir.join("pred.json");
    let target = dir.join("target.json");
    std::fs::write(
        &pred,
        "[[[[0.9, 0.1], [0.2, 0.8]], [[0.6, 0.4], [0.3, 0.7]]]]",
    )
    .unwrap();
    std::fs::write(&target, "[[[[1, 0], [0, 1]], [[1, 0], [0, 1]]]]").unwrap();
    let grad = dir.join("grad.npy");
    let (code, out, err) = run(bin()
        .args([
            "eval",
            "-f",
            "asym_unified_focal_loss",
            "--json",
            "-p",
            "weight=0.3",
        ])
        .arg("--pred")
        .arg(&pred)
        .arg("--target")
        .arg(&target)
        .arg("--grad-out")
        .arg(&grad));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["params"]["weight"], Value::from(0.3));
    let loss = v["loss"].as_f64().unwrap();
    // The library gives the same number.
    let t = |data: Vec<f64>| ufl_oracle::Tensor::new("x", vec![1, 2, 2, 2], data).unwrap();
    let mut params = ufl_oracle::Params::new();
    params.insert("weight".into(), ufl_oracle::ParamValue::Number(0.3));
    let problem = ufl_oracle::Problem::named(
        "asym_unified_focal_loss",
        "original",
        params,
        t(vec![0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7]),
        t(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]),
        ufl_oracle::Layout::ChannelsLast,
        ufl_oracle::Dtype::F64,
    )
    .unwrap();
    let answer = problem.evaluate().unwrap();
    assert_eq!(loss, answer.loss[0]);
    let (g, dtype) = ufl_oracle::io::read_array(&grad, "gradient").unwrap();
    assert_eq!(dtype, ufl_oracle::Dtype::F64);
    assert_eq!(g.data, answer.grad);
    // Channels-first input gives the transposed gradient.
    let (code, _, err) = run(bin()
        .args([
            "eval",
            "-f",
            "dice_loss",
            "-c",
            "paper",
            "--layout",
            "channels-first",
        ])
        .arg("--pred")
        .arg(&pred)
        .arg("--target")
        .arg(&target));
    assert_eq!(code, 2, "dice_loss has no paper form");
    assert!(err.contains("paper"), "{err}");
}

/// Float32 `.npy` inputs are kept in float32 by `eval` (the fast path widens each element as
/// it reads it): the loss and the gradient file are the ones the same values give as float64
/// files evaluated at float32, bit for bit, and a value out of range is still refused.
#[test]
fn eval_of_float32_files_equals_eval_of_their_float64_widening() {
    let dir = scratch("eval-f32");
    let shape = vec![2, 2, 6, 5];
    let n: usize = shape.iter().product();
    let per_item = n / 2;
    let (mut p, mut y) = (vec![0.0f64; n], vec![0.0f64; n]);
    for i in 0..per_item / 2 {
        let v = ((i * 37 % 97) as f32 / 97.0) as f64;
        let hot = (i % 3 == 0) as usize;
        for b in 0..2 {
            let at = |c: usize| b * per_item + c * (per_item / 2) + i;
            p[at(1)] = v;
            p[at(0)] = (1.0 - v as f32) as f64;
            y[at(hot)] = 1.0;
        }
    }
    let write = |name: &str, data: &[f64], f32: bool| {
        let path = dir.join(name);
        if f32 {
            let a = ndarray::ArrayD::from_shape_vec(
                shape.clone(),
                data.iter().map(|&x| x as f32).collect(),
            )
            .unwrap();
            ndarray_npy::write_npy(&path, &a).unwrap();
        } else {
            ufl_oracle::io::write_array(&path, &shape, data).unwrap();
        }
        path
    };
    let eval = |pred: &std::path::Path, target: &std::path::Path, grad: &std::path::Path| {
        run(bin()
            .args([
                "eval",
                "-f",
                "asym_unified_focal_loss",
                "-c",
                "monai",
                "--json",
            ])
            .args(["--dtype", "float32"])
            .arg("--pred")
            .arg(pred)
            .arg("--target")
            .arg(target)
            .arg("--grad-out")
            .arg(grad))
    };
    let (g32, g64) = (dir.join("g32.npy"), dir.join("g64.npy"));
    let (code, out32, err) = eval(
        &write("p32.npy", &p, true),
        &write("t32.npy", &y, true),
        &g32,
    );
    assert_eq!(code, 0, "{err}");
    let (code, out64, err) = eval(
        &write("p64.npy", &p, false),
        &write("t64.npy", &y, false),
        &g64,
    );
    assert_eq!(code, 0, "{err}");
    let without_path = |out: &str| {
        let mut v: Value = serde_json::from_str(out).unwrap();
        v["grad_out"] = Value::Null;
        v
    };
    assert_eq!(without_path(&out32), without_path(&out64));
    let read = |path: &std::path::Path| ufl_oracle::io::read_array(path, "gradient").unwrap().0;
    let bits = |t: ufl_oracle::Tensor| t.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(read(&g32)), bits(read(&g64)));
    p[7] = 1.5;
    let (code, _, err) = eval(&write("bad.npy", &p, true), &dir.join("t32.npy"), &g32);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("prediction"), "{err}");
}

#[test]
fn eval_refuses_bad_input_with_exit_2() {
    let dir = scratch("eval-bad");
    let pred = dir.join("pred.json");
    let target = dir.join("target.json");
    std::fs::write(&pred, "[[[[1.5, 0.1]]]]").unwrap();
    std::fs::write(&target, "[[[[1, 0]]]]").unwrap();
    let (code, _, err) = run(bin()
        .args(["eval", "-f", "dice_loss"])
        .arg("--pred")
        .arg(&pred)
        .arg("--target")
        .arg(&target));
    assert_eq!(code, 2);
    assert!(err.contains("outside [0, 1]"), "{err}");
    let (code, _, err) = run(bin()
        .args(["eval", "-f", "dice_loss", "-p", "delta=2"])
        .arg("--pred")
        .arg(&target)
        .arg("--target")
        .arg(&target));
    assert_eq!(code, 2);
    assert!(err.contains("delta"), "{err}");
    let (code, _, err) = run(bin()
        .args(["eval", "-f", "nope"])
        .arg("--pred")
        .arg(&target)
        .arg("--target")
        .arg(&target));
    assert_eq!(code, 2);
    assert!(err.contains("unknown function"), "{err}");
    let (code, _, err) = run(bin()
        .args(["eval", "-f", "asym_unified_focal_loss", "-c", "paper"])
        .arg("--pred")
        .arg(&target)
        .arg("--target")
        .arg(&target));
    assert_eq!(code, 2);
    assert!(err.contains("--layout"), "{err}");
}

#[test]
fn eval_gives_directional_and_parameter_derivatives() {
    let dir = scratch("eval-derivatives");
    let pred = dir.join("pred.json");
    let target = dir.join("target.json");
    let direction = dir.join("v.json");
    std::fs::write(
        &pred,
        "[[[[0.875, 0.125], [0.25, 0.75]], [[0.625, 0.375], [0.3125, 0.6875]]]]",
    )
    .unwrap();
    std::fs::write(&target, "[[[[1, 0], [0, 1]], [[1, 0], [0, 1]]]]").unwrap();
    std::fs::write(&direction, "[[[[0, 0], [0, 1]], [[0, 0], [0, 0]]]]").unwrap();
    let grad = dir.join("g.json");
    let (code, out, err) = run(bin()
        .args([
            "eval",
            "-f",
            "sym_unified_focal_loss",
            "--json",
            "--param-grad",
        ])
        .arg("--pred")
        .arg(&pred)
        .arg("--target")
        .arg(&target)
        .arg("--jvp")
        .arg(&direction)
        .arg("--grad-out")
        .arg(&grad));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let (g, _) = ufl_oracle::io::read_array(&grad, "g").unwrap();
    // The direction picks entry 3: the forward-mode JVP is the closed-form gradient's entry.
    let jvp = v["jvp"].as_f64().unwrap();
    assert!(
        (jvp - g.data[3]).abs() <= 1e-14 * g.data[3].abs(),
        "{jvp} vs {}",
        g.data[3]
    );
    for name in ["weight", "delta", "gamma"] {
        assert!(
            v["param_grad"][name].as_f64().is_some_and(f64::is_finite),
            "{name}: {}",
            v["param_grad"]
        );
    }
}
