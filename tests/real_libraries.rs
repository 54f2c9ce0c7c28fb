//! Results recorded from real shipped libraries (`tests/recorded/`, made by the scripts beside
//! them), replayed through `ufl-oracle check` without those libraries: MONAI 1.6.1 on torch
//! 2.11.0 and 2.15.0 (whose `clamp` gradients on the bounds differ), a PyTorch transcription
//! of the original TensorFlow code, JAX 0.10.2's focal Tversky loss with two clips, a plain
//! PyTorch `paper` unified loss (correct, and with δ on the false positives),
//! segmentation_models_pytorch 0.6.0 `TverskyLoss` and Keras 3.15.1 `Tversky`, each case
//! computed in its own dtype. Every faithful one must pass with no precision flag, the
//! report must name the clip rule each release followed, and `jnp.clip` must fail where its
//! gradient differs, named.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `check` and returns the exit code, the text and the JSON report.
fn check(cases: &str, results: &str, extra: &[&str]) -> (i32, String, Value) {
    let report = std::env::temp_dir().join(format!(
        "ufl-oracle-recorded-{}-{}.json",
        std::process::id(),
        Path::new(results).file_stem().unwrap().to_string_lossy()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_ufl-oracle"))
        .arg("check")
        .arg("--cases")
        .arg(root().join(cases))
        .arg("--results")
        .arg(root().join("tests/recorded").join(results))
        .arg("--report")
        .arg(&report)
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read_to_string(&report)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let _ = std::fs::remove_file(&report);
    (out.status.code().unwrap_or(-1), text, json)
}

fn clip_rules(report: &Value) -> Vec<String> {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["clip_rule"].as_str().map(String::from))
        .collect()
}

#[test]
fn monai_on_torch_2_11_and_2_15_passes_under_the_clip_rule_each_release_follows() {
    for (release, rule, other) in [
        ("2.11.0", "clip gradient 1 on the bounds", "clip gradient 0"),
        ("2.15.0", "clip gradient 0 on the bounds", "clip gradient 1"),
    ] {
        let file = format!("monai-1.6.1-torch-{release}.results.json");
        let (code, text, report) = check("fixtures/monai", &file, &[]);
        assert_eq!(code, 0, "torch {release}:\n{text}");
        assert_eq!(report["summary"]["cases"], 247, "{text}");
        assert_eq!(report["summary"]["failed"], 0, "{text}");
        let rules = clip_rules(&report);
        let followed = rules.iter().filter(|r| r.starts_with(rule)).count();
        println!("torch {release}: {followed} on-bound cases answered with the {rule}");
        assert!(followed >= 30, "torch {release}: {rules:?}");
        assert!(
            !rules.iter().any(|r| r.starts_with(other)),
            "torch {release}: {rules:?}"
        );
        // Judged at their own dtype: the float64 cases are float64 cases in the report.
        let f64_judged = report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["dtype"] == "float64" && c["judged_at"]["compute"] == "float64")
            .count();
        assert_eq!(f64_judged, 17 + 18 + 21, "{text}");
    }
}

#[test]
fn a_pytorch_transcription_of_the_original_passes_every_case_in_its_own_dtype() {
    let (code, text, report) = check(
        "fixtures/original",
        "original-torch-2.15.0.results.json",
        &[],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(report["summary"]["failed"], 0, "{text}");
    assert!(
        report["summary"]["passed"].as_u64().unwrap() > 350,
        "{text}"
    );
    // The same results judged at one precision fail the cases of the other dtype: the flag is
    // an override, never a silent relabelling.
    let (code, text, _) = check(
        "fixtures/original",
        "original-torch-2.15.0.results.json",
        &["--precision", "float32"],
    );
    assert_eq!(code, 1, "{text}");
}

/// JAX 0.10.2's focal Tversky loss (`python/examples/jax_tversky.py --record`, on the `edge`
/// and `random` cases of `focal_tversky_loss`, which `ufl-oracle cases` writes again here from
/// the default seed): with a select-based clip it passes; with `jnp.clip` exactly the cases
/// with predictions on a clip bound fail, each diagnosed as the clip gradient ½ there (jax
/// splits the gradient of a tie, TensorFlow's `K.clip` passes 1).
#[test]
fn jax_passes_with_a_select_clip_and_jnp_clip_is_named_on_the_bounds() {
    let focal_tversky = "function=focal_tversky_loss,convention=original";
    let (code, text, report) = replay(focal_tversky, "jax-0.10.2-select-clip.results.json");
    assert_eq!(code, 0, "{text}");
    assert_eq!(report["summary"]["cases"], 63, "{text}");
    assert_eq!(report["summary"]["failed"], 0, "{text}");

    let (code, text, report) = replay(focal_tversky, "jax-0.10.2-jnp-clip.results.json");
    assert_eq!(code, 1, "{text}");
    let failed: Vec<&Value> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .collect();
    assert_eq!(failed.len(), 4, "{text}");
    for c in failed {
        let id = c["id"].as_str().unwrap();
        assert!(
            id.contains("bounds"),
            "{id} fails without a prediction on a bound"
        );
        let diagnosis = c["diagnosis"].as_str().unwrap_or_default();
        assert!(
            diagnosis.contains("clip gradient ½ on the bounds"),
            "{id}: {diagnosis}"
        );
    }
}

/// Replays `results` on the `edge` and `random` cases that `filter` selects (the default
/// seed), written afresh by `ufl-oracle cases` to a folder removed afterwards.
fn replay(filter: &str, results: &str) -> (i32, String, Value) {
    let dir = std::env::temp_dir().join(format!(
        "ufl-oracle-replay-{}-{}",
        std::process::id(),
        Path::new(results).file_stem().unwrap().to_string_lossy()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_ufl-oracle"))
        .args([
            "cases",
            "--groups",
            "edge,random",
            "--filter",
            filter,
            "--out",
        ])
        .arg(&dir)
        .output()
        .expect("the command line runs");
    assert!(out.status.success(), "{out:?}");
    let answer = check(dir.join("cases.json").to_str().unwrap(), results, &[]);
    let _ = std::fs::remove_dir_all(&dir);
    answer
}

/// The failures of a report, counted by diagnosis (its first variant, before "; or"), and the
/// verdict counts.
fn diagnoses(report: &Value) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for c in report["cases"].as_array().unwrap() {
        if c["verdict"] == "fail" {
            let d = c["diagnosis"]
                .as_str()
                .or(c["detail"].as_str())
                .unwrap_or("(none)");
            let first = d
                .split("; or ")
                .next()
                .unwrap()
                .trim_start_matches("matches ");
            *out.entry(first.chars().take(60).collect()).or_insert(0) += 1;
        }
    }
    out
}

/// Every expected diagnosis seen exactly as often as listed, and nothing else.
fn assert_diagnoses(report: &Value, text: &str, expected: &[(&str, usize)]) {
    let seen = diagnoses(report);
    let listed: std::collections::BTreeMap<String, usize> =
        expected.iter().map(|(d, n)| (d.to_string(), *n)).collect();
    assert_eq!(seen, listed, "{text}");
}

/// A plain PyTorch implementation of the `paper` unified losses
/// (`python/examples/torch_unified.py --record`, torch 2.15.0): every case passes, `clamp`'s
/// strict gradient on the bounds accepted as a rule `paper` admits; with δ on the false
/// positives every case it fails is named by that swap, on the bounds too.
#[test]
fn a_plain_torch_paper_unified_loss_passes_and_its_planted_delta_swap_is_named() {
    let unified = "function=asym_unified_focal_loss|sym_unified_focal_loss,convention=paper";
    let (code, text, report) = replay(unified, "torch-2.15.0-paper-unified.results.json");
    assert_eq!(code, 0, "{text}");
    assert_eq!(report["summary"]["cases"], 145, "{text}");
    assert_eq!(report["summary"]["passed"], 145, "{text}");
    let (code, text, report) = replay(
        unified,
        "torch-2.15.0-paper-unified-delta-on-fp.results.json",
    );
    assert_eq!(code, 1, "{text}");
    let failed = report["summary"]["failed"].as_u64().unwrap() as usize;
    assert!(failed > 100, "{text}");
    assert_diagnoses(
        &report,
        &text,
        &[(
            "the Tversky index weights false positives by δ (α/β swapped,",
            failed,
        )],
    );
}

/// segmentation_models_pytorch 0.6.0 `TverskyLoss` as the original's Dice, Tversky and focal
/// Tversky losses (`python/examples/smp_tversky.py --record`): each documented difference is
/// named where it is the only one; the counts are those of the recording.
#[test]
fn smp_tversky_loss_fails_with_its_documented_differences_named() {
    let (code, text, report) = replay(
        "function=dice_loss|tversky_loss|focal_tversky_loss,convention=original",
        "smp-0.6.0-torch-2.15.0.results.json",
    );
    assert_eq!(code, 1, "{text}");
    // The counts are the recording's; a change in either the oracle's diagnosis or the file
    // fails here. "none of the known variants": two differences in one case (a batch > 1
    // with an empty class, a focal case with a batch > 1, soft targets, where smp's
    // `(Σp + Σy - ‖p - y‖₁)/2` is Σ min(p, y), not Σ p·y). "the gradient matches none": the
    // subgradient 0 of `|p - y|` at `p = y` (perfect and on-bound predictions).
    assert_diagnoses(
        &report,
        &text,
        &[
            (
                "TP, FN and FP pooled over the batch (as segmentation_models_",
                30,
            ),
            (
                "classes with no positive pixel zeroed (as segmentation_model",
                18,
            ),
            ("none of the known variants of `original`", 55),
            ("predictions not clipped (as kornia), not `original`", 3),
            (
                "the focal Tversky power applied after the class mean (as seg",
                18,
            ),
            (
                "the loss matches `original`; the gradient matches none of th",
                10,
            ),
        ],
    );
}

/// Keras 3.15.1 `Tversky` on torch as the original's Dice and Tversky losses
/// (`python/examples/keras_tversky.py --record`): named as Keras' own variant (α and β
/// swapped against its documentation, smoothing only in the denominator) where that is the
/// only difference.
#[test]
fn keras_tversky_fails_named_as_keras() {
    let (code, text, report) = replay(
        "function=dice_loss|tversky_loss,convention=original",
        "keras-3.15.1-torch-2.15.0.results.json",
    );
    assert_eq!(code, 1, "{text}");
    // The counts are the recording's. The swap alone where the smoothing cannot be told
    // apart (Keras' own variant matches too, second); Keras' variant alone where it can; "none":
    // float64 cases, whose loss Keras rounds to float32 on top.
    assert_diagnoses(
        &report,
        &text,
        &[
            (
                "Keras 3.15.1 `Tversky` (α on the false negatives and β on th",
                30,
            ),
            ("none of the known variants of `original`", 3),
            (
                "the Tversky index weights false positives by δ (α/β swapped,",
                47,
            ),
        ],
    );
}
