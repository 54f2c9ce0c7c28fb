//! The `ufl-oracle` command line (feature `cli`): `list` the functions, `eval` one function on
//! array files, write `cases`, `check` a results file, and `verify-fixtures` against recorded
//! reference outputs. The top layer: the binary (`src/main.rs`) and the Python package's
//! console script both call [`run`]; it may use every layer below.
//!
//! Exit codes: 0 success; 1 a verified mismatch (`verify-fixtures`); 2 unusable input (a file,
//! an argument or a case the oracle cannot use). Every refusal prints a message naming the
//! problem; nothing panics.

use crate::conformance::verify::{
    parse_deviations, reconcile, tally_table, verify_case, CaseReport, ExpectedDeviation, Verdict,
};
use crate::conventions::params::{ParamValue, Params};
use crate::engine::eval::Problem;
use crate::engine::fast::input::Values;
use crate::protocol::fixtures;
use crate::protocol::io::{json_number, read_array, read_array_stored, write_array};
use crate::spec::error::UflError;
use crate::spec::registry::{Convention, FunctionId, FUNCTIONS};
use crate::spec::registry::{Default as ParamDefault, Kind};
use crate::spec::tensor::{Dtype, Layout};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "ufl-oracle",
    version,
    about = "Reference values and gradients for the Unified Focal loss family"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the functions, the conventions that define them, and their parameters.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate one function on a prediction and a target (.npy or JSON files).
    Eval(EvalArgs),
    /// Write the case set as inputs for a backend in another language (DIR/cases.json).
    Cases {
        /// The folder to write.
        #[arg(long)]
        out: PathBuf,
        /// Groups: edge, random, fixture, large, f16, default (comma-separated).
        #[arg(long, default_value = "default")]
        groups: String,
        /// A filter such as `asym,-quirk` (tokens match groups or id parts; `-` excludes).
        #[arg(long, default_value = "")]
        filter: String,
        /// Seed of the random cases (default: UFL_ORACLE_SEED, else the built-in seed).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Check a backend's results file (ufl-results/1) against the cases it answers.
    Check {
        /// Case files (ufl-fixtures/1, e.g. written by `cases`, or fixture files) or folders.
        #[arg(long, required = true, num_args = 1..)]
        cases: Vec<PathBuf>,
        /// The backend's results (ufl-results/1).
        #[arg(long)]
        results: PathBuf,
        /// Check every case under this convention instead of its own.
        #[arg(long)]
        convention: Option<String>,
        /// The backend's arithmetic: float64, float32, float16, bfloat16 (default: the results
        /// file's backend.precision, else float32).
        #[arg(long)]
        precision: Option<String>,
        /// The precision the backend stores inputs in (default: backend.input_precision, else
        /// the arithmetic precision).
        #[arg(long)]
        input_precision: Option<String>,
        /// How the backend accumulates sums: pairwise (tree, blocked; the default) or
        /// sequential (default: the results file's backend.summation, else pairwise).
        #[arg(long)]
        summation: Option<String>,
        /// Where to write the JSON report (none is written unless asked; never over an input).
        #[arg(long)]
        report: Option<PathBuf>,
        /// List every case's verdict.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Check the oracle against fixture files (ufl-fixtures/1) or folders of them.
    VerifyFixtures {
        /// Files or folders (searched recursively for fixture files).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// A deviation list (ufl-deviations/1); by default expected-deviations.json in a given folder.
        #[arg(long)]
        deviations: Option<PathBuf>,
        /// Print every case's verdict.
        #[arg(long, short)]
        verbose: bool,
    },
}

/// Runs the command line on `args` (the program name first, as `std::env::args_os` gives
/// them) and returns its exit code (0 success, 1 a verified mismatch, 2 unusable input); `--help` and `--version` print and return 0, an argument
/// error prints clap's message and returns 2.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code().clamp(0, 255) as u8;
        }
    };
    let result = match cli.command {
        Command::List { json } => list(json),
        Command::Eval(args) => eval(args),
        Command::Cases {
            out,
            groups,
            filter,
            seed,
        } => write_cases(&out, &groups, &filter, seed),
        Command::Check {
            cases,
            results,
            convention,
            precision,
            input_precision,
            summation,
            report,
            verbose,
        } => check(
            &cases,
            &results,
            convention.as_deref(),
            Declaration {
                precision: precision.as_deref(),
                input_precision: input_precision.as_deref(),
                summation: summation.as_deref(),
            },
            report.as_deref(),
            verbose,
        ),
        Command::VerifyFixtures {
            paths,
            deviations,
            verbose,
        } => verify(&paths, deviations.as_deref(), verbose),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

fn default_text(d: ParamDefault) -> String {
    match d {
        ParamDefault::Real(x) => format!("{x}"),
        ParamDefault::Null => "null".into(),
        ParamDefault::Bool(b) => b.to_string(),
        ParamDefault::Int(i) => i.to_string(),
        ParamDefault::Word(w) => w.into(),
    }
}

fn range_text(kind: Kind, range: &crate::spec::registry::Range) -> String {
    match kind {
        Kind::Choice(words) => words.join(" | "),
        Kind::Bool => "true | false".into(),
        Kind::ClassesOrNull => "list of class indices | null".into(),
        Kind::RealOrNull => format!("{range} | null"),
        Kind::RealOrListOrNull => format!("{range}, scalar or list | null"),
        Kind::IntOrNull => "integer | null".into(),
        Kind::Int => format!("integer in {range}"),
        Kind::Real => range.to_string(),
    }
}

fn list(json: bool) -> Result<u8, UflError> {
    if json {
        let v: Vec<serde_json::Value> = FUNCTIONS
            .iter()
            .map(|f| {
                let sigs: Vec<serde_json::Value> = f
                    .signatures
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "convention": s.convention.name(),
                            "reference_name": s.reference_name,
                            "params": s.params.iter().map(|p| serde_json::json!({
                                "name": p.name, "default": default_text(p.default),
                                "values": range_text(p.kind, &p.range), "doc": p.doc})).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                serde_json::json!({"name": f.name, "summary": f.summary, "conventions": sigs})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(0);
    }
    for f in FUNCTIONS {
        let convs: Vec<&str> = f.conventions().map(|c| c.name()).collect();
        println!("{}  [{}]\n    {}", f.name, convs.join(", "), f.summary);
        for s in f.signatures {
            let name = if s.reference_name.is_empty() || s.reference_name == f.name {
                String::new()
            } else {
                format!(" ({})", s.reference_name)
            };
            println!("    {}{}:", s.convention, name);
            for p in s.params {
                println!(
                    "      {:<14} default {:<14} {:<36} {}",
                    p.name,
                    default_text(p.default),
                    range_text(p.kind, &p.range),
                    p.doc
                );
            }
        }
        println!();
    }
    Ok(0)
}

/// The arguments of `eval`.
#[derive(clap::Args)]
struct EvalArgs {
    /// Function name, e.g. asym_unified_focal_loss.
    #[arg(long, short)]
    function: String,
    /// original, paper or monai.
    #[arg(long, short, default_value = "original")]
    convention: String,
    /// Predicted probabilities (or logits with paper's input=logits).
    #[arg(long)]
    pred: PathBuf,
    /// Targets.
    #[arg(long)]
    target: PathBuf,
    /// channels-first or channels-last; defaults to the convention's own (original: last,
    /// monai: first); required for paper.
    #[arg(long)]
    layout: Option<String>,
    /// float32 or float64: the inputs' precision (default: the .npy dtype; JSON: float64).
    #[arg(long)]
    dtype: Option<String>,
    /// A parameter, name=value (repeatable): delta=0.6, alpha=[0.25,0.75], weight=null.
    #[arg(long = "param", short = 'p')]
    params: Vec<String>,
    /// Write the gradient to this file (.npy, or JSON otherwise).
    #[arg(long)]
    grad_out: Option<PathBuf>,
    /// Also print the derivative along this direction (an array of the prediction's shape),
    /// by forward-mode automatic differentiation.
    #[arg(long)]
    jvp: Option<PathBuf>,
    /// Also print the derivative with respect to every real-valued hyper-parameter.
    #[arg(long)]
    param_grad: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn eval(args: EvalArgs) -> Result<u8, UflError> {
    let options = &args;
    let (function, convention, layout, dtype) = (
        &args.function,
        &args.convention,
        args.layout.as_deref(),
        args.dtype.as_deref(),
    );
    let (pred_path, target_path, raw_params) = (&args.pred, &args.target, &args.params);
    let grad_out = args.grad_out.as_deref();
    let json = args.json;
    let convention: Convention = convention.parse()?;
    let layout = match (layout, crate::engine::eval::native_layout(convention)) {
        (Some(l), _) => Layout::parse(l)?,
        (None, Some(native)) => native,
        (None, None) => {
            return Err(UflError::InvalidParameter {
                name: "--layout".into(),
                value: "(missing)".into(),
                reason: "the paper convention takes either layout: say which with --layout channels-first|channels-last".into(),
            })
        }
    };
    let mut params = Params::new();
    for raw in raw_params {
        let (k, v) = raw
            .split_once('=')
            .ok_or_else(|| UflError::InvalidParameter {
                name: raw.clone(),
                value: String::new(),
                reason: "expected name=value".into(),
            })?;
        let name = k.trim().to_string();
        let value = ParamValue::parse_cli(k, v)?;
        if params.contains_key(&name) {
            return Err(UflError::InvalidParameter {
                name,
                value: v.trim().to_string(),
                reason: "given twice (-p): each parameter may be given once".into(),
            });
        }
        params.insert(name, value);
    }
    // Kept in the precision of their files: the fast path reads float32 elements as they are
    // and widens each one as it goes, so a float32 input is never held in float64 as well.
    let pred = read_array_stored(pred_path, "prediction")?;
    let target = read_array_stored(target_path, "target")?;
    let dtype = match dtype {
        Some(d) => Dtype::parse(d)?,
        None => pred.dtype(),
    };
    let function: FunctionId = function.parse()?;
    let shape = pred.shape.clone();
    // The forward mode and the parameter derivatives need the whole problem in float64.
    let needs_problem = options.jvp.is_some() || options.param_grad;
    let fast_answer = if needs_problem {
        None
    } else {
        let spec = crate::engine::fast::plan::Spec {
            function,
            convention,
            params: &params,
            shape: &pred.shape,
            target_shape: &target.shape,
            lengths: (pred.data_len(), target.data_len()),
            layout,
            dtype,
        };
        let (p, t) = (Values::of(&pred.data), Values::of(&target.data));
        crate::engine::fast::evaluate_stored(&spec, p, t)
    };
    let resolved = crate::conventions::params::resolve(function, convention, &params)?;
    let (answer, problem) = match fast_answer {
        Some(answer) => (answer, None),
        None => {
            let problem = Problem {
                function,
                convention,
                params,
                pred: pred.widen("prediction")?,
                target: target.widen("target")?,
                layout,
                dtype,
            };
            (problem.evaluate()?, Some(problem))
        }
    };
    if let Some(path) = grad_out {
        write_array(path, &shape, &answer.grad)?;
    }
    let jvp = match (&options.jvp, &problem) {
        (Some(path), Some(problem)) => {
            let (direction, _) = read_array(path, "direction")?;
            Some(
                problem
                    .jvp(&direction)?
                    .iter()
                    .map(|d| d.derivative)
                    .sum::<f64>(),
            )
        }
        _ => None,
    };
    let param_grad = match (options.param_grad, &problem) {
        (true, Some(problem)) => problem.param_derivatives()?,
        _ => Vec::new(),
    };
    if json {
        let params: serde_json::Map<String, serde_json::Value> = resolved
            .describe()
            .into_iter()
            .map(|(k, v)| {
                let jv = match v {
                    ParamValue::Null => serde_json::Value::Null,
                    ParamValue::Bool(b) => b.into(),
                    ParamValue::Number(x) => json_number(x),
                    ParamValue::List(xs) => xs.into_iter().map(json_number).collect(),
                    ParamValue::Text(t) => t.into(),
                };
                (k, jv)
            })
            .collect();
        let loss = match answer.scalar() {
            Some(x) => json_number(x),
            None => answer.loss.iter().map(|&x| json_number(x)).collect(),
        };
        let out = serde_json::json!({
            "function": function.name(), "convention": convention.name(), "layout": layout.name(),
            "dtype": dtype.name(), "params": params, "loss": loss, "loss_shape": answer.loss_shape,
            "grad_out": grad_out.map(|p| p.display().to_string()),
            "jvp": jvp.map(json_number),
            "param_grad": param_grad.iter().map(|d| (d.name.to_string(), json_number(d.derivative))).collect::<serde_json::Map<_, _>>(),
        });
        println!("{out}");
    } else {
        match answer.scalar() {
            Some(x) => println!("loss = {x:e}"),
            None => println!("loss (shape {:?}) = {:?}", answer.loss_shape, answer.loss),
        }
        let finite = answer.grad.iter().filter(|g| g.is_finite()).count();
        let max = answer
            .grad
            .iter()
            .filter(|g| g.is_finite())
            .fold(0.0f64, |m, g| m.max(g.abs()));
        println!(
            "grad: {} entries, {} finite, max |grad| = {max:e}",
            answer.grad.len(),
            finite
        );
        if let Some(p) = grad_out {
            println!("gradient written to {}", p.display());
        }
        if let Some(j) = jvp {
            println!("jvp (forward mode, along the given direction) = {j:e}");
        }
        for d in &param_grad {
            println!(
                "d loss / d {} (at {}) = {:e}",
                d.name, d.value, d.derivative
            );
        }
    }
    Ok(0)
}

/// Largest deviation list read (bytes).
const MAX_DEVIATION_LIST_BYTES: u64 = 64 << 20;

/// The fixture or case files `paths` name; every JSON file of a searched folder that is not one
/// is named on stderr with the reason it was passed over.
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, UflError> {
    let collected = fixtures::collect(paths)?;
    for (path, reason) in &collected.skipped {
        eprintln!("skipped {}: {reason}", path.display());
    }
    Ok(collected.files)
}

/// Reads every file and maps each case by `each` (one file held at a time), refusing a case id
/// that appears twice (in one file or two).
fn read_unique<T>(
    files: &[PathBuf],
    mut each: impl FnMut(&fixtures::FixtureCase) -> Result<T, UflError>,
) -> Result<Vec<T>, UflError> {
    let mut first_seen: std::collections::HashMap<String, PathBuf> = Default::default();
    let mut cases = Vec::new();
    for f in files {
        for c in fixtures::read(f)?.cases {
            if let Some(first) = first_seen.insert(c.id.clone(), f.clone()) {
                return Err(UflError::Format {
                    context: f.display().to_string(),
                    message: format!(
                        "case id {} is also in {}: each case id must be unique",
                        crate::protocol::files::shorten(&c.id),
                        first.display()
                    ),
                });
            }
            cases.push(each(&c)?);
        }
    }
    Ok(cases)
}

/// True when `a` and `b` name the same existing file (after resolving symlinks).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn verify(
    paths: &[PathBuf],
    deviations: Option<&std::path::Path>,
    verbose: bool,
) -> Result<u8, UflError> {
    let files = collect_files(paths)?;
    if files.is_empty() {
        return Err(UflError::Io {
            path: format!("{paths:?}"),
            message: "no fixture files found".into(),
        });
    }
    let list_path = deviations.map(PathBuf::from).or_else(|| {
        paths
            .iter()
            .filter(|p| p.is_dir())
            .map(|p| p.join("expected-deviations.json"))
            .find(|p| p.exists())
    });
    let list: Option<Vec<ExpectedDeviation>> = match &list_path {
        Some(p) => {
            let text = crate::protocol::files::read_text(p, MAX_DEVIATION_LIST_BYTES)?;
            Some(parse_deviations(&text, &p.display().to_string())?)
        }
        None => None,
    };
    let reports: Vec<CaseReport> = read_unique(&files, |c| Ok(verify_case(c)))?;
    if reports.is_empty() {
        // Nothing checked is not a pass.
        return Err(UflError::Format {
            context: files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            message: "no cases to check".into(),
        });
    }
    let (mut pass, mut dev, mut bad, mut unusable) = (0, 0, 0, 0);
    for r in &reports {
        match &r.verdict {
            Verdict::Pass { used } => {
                pass += 1;
                if verbose {
                    println!("pass      {} (used {used:.3} of the tolerance)", r.id);
                }
            }
            Verdict::Deviation { kind, detail } => {
                dev += 1;
                println!("deviation {} [{}]: {detail}", r.id, kind.name());
            }
            Verdict::Mismatch { detail } => {
                bad += 1;
                println!("MISMATCH  {}: {detail}", r.id);
            }
            Verdict::Unusable { detail } => {
                unusable += 1;
                println!("UNUSABLE  {}: {detail}", r.id);
            }
        }
    }
    println!();
    print!("{}", tally_table(&reports));
    let mut list_problems = Vec::new();
    if let (Some(list), Some(path)) = (&list, &list_path) {
        list_problems = reconcile(&reports, list);
        for p in &list_problems {
            println!("DEVIATION LIST ({}): {p}", path.display());
        }
    }
    println!(
        "\n{} cases in {} files: {pass} passed, {dev} expected deviations, {bad} mismatches, {unusable} unusable{}",
        reports.len(),
        files.len(),
        match &list_path {
            Some(p) => format!(" (deviations reconciled with {})", p.display()),
            None => " (deviations judged by rule; no deviation list given)".into(),
        }
    );
    Ok(if unusable > 0 {
        2
    } else if bad > 0 || !list_problems.is_empty() {
        1
    } else {
        0
    })
}

fn write_cases(
    out: &std::path::Path,
    groups: &str,
    filter: &str,
    seed: Option<u64>,
) -> Result<u8, UflError> {
    let seed = seed.unwrap_or_else(crate::conformance::cases::seed_from_env);
    let names: Vec<&str> = groups
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .collect();
    for g in &names {
        if !["edge", "random", "fixture", "large", "f16", "default"].contains(g) {
            return Err(UflError::InvalidParameter {
                name: "--groups".into(),
                value: g.to_string(),
                reason: "expected edge, random, fixture, large, f16 or default".into(),
            });
        }
    }
    let f = crate::conformance::cases::Filter::parse(filter);
    let cases: Vec<_> = crate::conformance::cases::cases_of_groups(&names, seed)
        .into_iter()
        .filter(|c| f.matches(c))
        .collect();
    let path = crate::conformance::results::write_cases(&cases, out)?;
    println!(
        "{} cases written to {} (random cases seeded {seed})",
        cases.len(),
        path.display()
    );
    Ok(0)
}

/// What the command line declares of the backend's arithmetic (each overrides the results
/// file's `backend` block).
struct Declaration<'a> {
    precision: Option<&'a str>,
    input_precision: Option<&'a str>,
    summation: Option<&'a str>,
}

fn check(
    case_paths: &[PathBuf],
    results_path: &std::path::Path,
    convention: Option<&str>,
    declaration: Declaration,
    report_path: Option<&std::path::Path>,
    verbose: bool,
) -> Result<u8, UflError> {
    let Declaration {
        precision,
        input_precision,
        summation,
    } = declaration;
    use crate::conformance::harness::{Harness, Judging};
    use crate::conformance::tolerance::{Declared, Precision, Summation};
    let files = collect_files(case_paths)?;
    if files.is_empty() {
        return Err(UflError::Io {
            path: format!("{case_paths:?}"),
            message: "no case files found".into(),
        });
    }
    // The report is written only where asked, and never over an input.
    if let Some(report) = report_path {
        let inputs = files.iter().map(PathBuf::as_path).chain([results_path]);
        if let Some(input) = inputs.into_iter().find(|i| same_file(i, report)) {
            return Err(UflError::InvalidParameter {
                name: "report".into(),
                value: report.display().to_string(),
                reason: format!(
                    "is the input {}; the report must not overwrite an input",
                    input.display()
                ),
            });
        }
    }
    let mut cases = read_unique(&files, crate::conformance::results::case_from_file)?;
    if let Some(conv) = convention {
        let conv: Convention = conv.parse()?;
        cases.iter_mut().for_each(|c| c.problem.convention = conv);
    }
    let results = crate::conformance::results::read_results(results_path)?;
    let unanswered = crate::conformance::results::check_results_match(&results, &cases)?;
    if !unanswered.is_empty() {
        let shown: Vec<String> = unanswered
            .iter()
            .take(5)
            .map(|id| crate::protocol::files::shorten(id))
            .collect();
        eprintln!(
            "warning: {} results name no case of the case files given (not checked): {}{}",
            unanswered.len(),
            shown.join(", "),
            if unanswered.len() > 5 { ", ..." } else { "" }
        );
    }
    // Each case at its own dtype unless the command line or the results file declares one
    // precision for all.
    let compute = precision.or(results.declared("precision")?);
    let inputs = input_precision.or(results.declared("input_precision")?);
    let summation = summation
        .or(results.declared("summation")?)
        .map(Summation::parse)
        .transpose()?
        .unwrap_or_default();
    let judging = match (compute, inputs) {
        (None, None) => Judging::PerCase(summation),
        (Some(c), i) => {
            let compute = Precision::parse(c)?;
            Judging::Fixed(Declared {
                compute,
                inputs: i.map(Precision::parse).transpose()?.unwrap_or(compute),
                summation,
            })
        }
        (None, Some(_)) => {
            return Err(UflError::InvalidParameter {
                name: "input_precision".into(),
                value: inputs.unwrap_or_default().into(),
                reason: "an input precision needs the arithmetic precision too (--precision or backend.precision)".into(),
            })
        }
    };
    let mut harness = Harness::new(cases, judging);
    harness.verbose = verbose;
    let report = harness.run(|case| results.response_for(&case.id));
    println!("{report}");
    if let Some(path) = report_path {
        // A report that cannot be written does not change the verdict's exit code.
        match std::fs::write(path, report.to_json().to_string()) {
            Ok(()) => println!("JSON report written to {}", path.display()),
            Err(e) => eprintln!(
                "warning: the JSON report could not be written to {}: {e}",
                path.display()
            ),
        }
    }
    Ok(if report.is_ok() {
        0
    } else if report.tally().unusable > 0 {
        2
    } else {
        1
    })
}
