//! Hyper-parameter values: what a user gives, checked against the registry, resolved with
//! defaults, and cast into the evaluator's number type.

use crate::numbers::real::Real;
use crate::spec::error::UflError;
use crate::spec::registry::{Convention, Default, FunctionId, Kind, ParamSpec};
use std::collections::BTreeMap;
use std::fmt;

/// A parameter value as a user writes it (JSON-like).
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    Null,
    Bool(bool),
    Number(f64),
    List(Vec<f64>),
    Text(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Null => f.write_str("null"),
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Number(x) => write!(f, "{x}"),
            ParamValue::List(xs) => write!(f, "{xs:?}"),
            ParamValue::Text(s) => write!(f, "\"{s}\""),
        }
    }
}

impl ParamValue {
    /// Converts a JSON value; nested or mixed arrays and objects are refused.
    pub fn from_json(name: &str, v: &serde_json::Value) -> Result<Self, UflError> {
        use serde_json::Value;
        let bad = |reason: &str| UflError::InvalidParameter {
            name: name.to_string(),
            value: v.to_string(),
            reason: reason.to_string(),
        };
        Ok(match v {
            Value::Null => ParamValue::Null,
            Value::Bool(b) => ParamValue::Bool(*b),
            Value::Number(n) => ParamValue::Number(n.as_f64().ok_or_else(|| bad("not a number"))?),
            Value::String(s) => ParamValue::Text(s.clone()),
            Value::Array(items) => ParamValue::List(
                items
                    .iter()
                    .map(|x| {
                        x.as_f64()
                            .ok_or_else(|| bad("a list must hold numbers only"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(_) => return Err(bad("an object is not a parameter value")),
        })
    }

    /// Parses the CLI form `name=value`: a number, `null`, `true`/`false`, a list `[a,b]`, or a word.
    pub fn parse_cli(name: &str, text: &str) -> Result<Self, UflError> {
        let t = text.trim();
        if t.starts_with('[') {
            let v: serde_json::Value =
                serde_json::from_str(t).map_err(|e| UflError::InvalidParameter {
                    name: name.to_string(),
                    value: t.to_string(),
                    reason: format!("not a JSON list: {e}"),
                })?;
            return Self::from_json(name, &v);
        }
        Ok(match t {
            "null" | "None" => ParamValue::Null,
            "true" | "True" => ParamValue::Bool(true),
            "false" | "False" => ParamValue::Bool(false),
            _ => match t.parse::<f64>() {
                Ok(x) => ParamValue::Number(x),
                Err(_) => ParamValue::Text(t.to_string()),
            },
        })
    }
}

/// User-given parameters by name.
pub type Params = BTreeMap<String, ParamValue>;

/// A resolved parameter value in the evaluator's number type.
#[derive(Clone, Debug, PartialEq)]
pub enum Hp<T> {
    Null,
    Bool(bool),
    Real(T),
    List(Vec<T>),
    Int(i64),
    Word(&'static str),
    Classes(Vec<usize>),
}

/// What a loss's entries are reduced to: the `reduction` parameter, typed, with the meaning its
/// (function, convention) gives each word. The one reduction type of the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// One number, the mean (`mean`).
    Mean,
    /// One number, the sum (`sum`).
    Sum,
    /// One loss per item, shape (B): `paper`'s `none`.
    PerItem,
    /// One loss per (item, class), shape (B, C): `paper`'s `none-per-class`; MONAI's `none`
    /// for `AsymmetricFocalTverskyLoss`, shape (B, 2).
    PerItemClass,
    /// One loss per element and class, the input's shape with 2 classes: MONAI's `none` for
    /// `AsymmetricFocalLoss`.
    PerElement,
}

/// Every parameter of a (function, convention), resolved: the user's value or the default.
#[derive(Clone, Debug, PartialEq)]
pub struct Hyper<T> {
    pub function: FunctionId,
    pub convention: Convention,
    values: Vec<(&'static str, Hp<T>)>,
}

/// A parameter the registry does not give this (function, convention): a bug of the crate, not
/// of the caller.
pub(crate) fn internal(name: &str) -> UflError {
    UflError::InvalidParameter {
        name: name.to_string(),
        value: "?".to_string(),
        reason: "not a parameter of this function (internal inconsistency)".to_string(),
    }
}

impl<T: Real> Hyper<T> {
    fn get(&self, name: &str) -> Result<&Hp<T>, UflError> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| internal(name))
    }

    /// A parameter's resolved value, if the function has it.
    pub fn value(&self, name: &str) -> Option<Hp<T>> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    /// The clip ε of the evaluation: the `eps` (paper) or `epsilon` (monai) parameter where the
    /// function has one, otherwise the convention's fixed value (`K.epsilon()` in the original
    /// code, MONAI's default inside `AsymmetricUnifiedFocalLoss`).
    pub fn clip_epsilon(&self) -> T {
        let fixed = match self.convention {
            Convention::Original => crate::spec::registry::KERAS_EPSILON,
            Convention::Paper => crate::spec::registry::PAPER_DEFAULT_EPS,
            Convention::Monai => crate::spec::registry::MONAI_DEFAULT_EPSILON,
        };
        let parameter = match self.convention {
            Convention::Original => None,
            Convention::Paper => self.value("eps"),
            Convention::Monai => self.value("epsilon"),
        };
        match parameter {
            Some(Hp::Real(e)) => e,
            _ => T::cst(fixed),
        }
    }

    /// The `reduction` parameter, typed (an error for a function without one).
    pub fn reduction(&self) -> Result<Reduction, UflError> {
        use FunctionId::{AsymmetricFocalLoss, AsymmetricFocalTverskyLoss};
        let word = self.word("reduction")?;
        Ok(match (self.convention, self.function, word) {
            (Convention::Paper | Convention::Monai, _, "mean") => Reduction::Mean,
            (Convention::Paper | Convention::Monai, _, "sum") => Reduction::Sum,
            (Convention::Paper, _, "none") => Reduction::PerItem,
            (Convention::Paper, _, "none-per-class") => Reduction::PerItemClass,
            (Convention::Monai, AsymmetricFocalLoss, "none") => Reduction::PerElement,
            (Convention::Monai, AsymmetricFocalTverskyLoss, "none") => Reduction::PerItemClass,
            _ => return Err(internal("reduction")),
        })
    }

    /// The `rare_classes` parameter of `paper` as one flag per class: the listed classes, or
    /// every class but 0 when it is null; a class index outside `0..classes` is an error.
    pub fn rare_classes(&self, classes: usize) -> Result<Vec<bool>, UflError> {
        let mut rare = vec![false; classes];
        match self.classes("rare_classes")? {
            None => rare.iter_mut().skip(1).for_each(|r| *r = true),
            Some(list) => {
                for &c in list {
                    if c >= classes {
                        return Err(UflError::InvalidParameter {
                            name: "rare_classes".to_string(),
                            value: format!("{list:?}"),
                            reason: format!(
                                "class {c} does not exist: there are {classes} classes"
                            ),
                        });
                    }
                    rare[c] = true;
                }
            }
        }
        Ok(rare)
    }

    /// A real parameter.
    pub fn real(&self, name: &str) -> Result<T, UflError> {
        match self.get(name)? {
            Hp::Real(x) => Ok(*x),
            _ => Err(internal(name)),
        }
    }

    /// A real parameter that may be null.
    pub fn opt_real(&self, name: &str) -> Result<Option<T>, UflError> {
        match self.get(name)? {
            Hp::Real(x) => Ok(Some(*x)),
            Hp::Null => Ok(None),
            _ => Err(internal(name)),
        }
    }

    /// A null, scalar or list parameter: `None`, or the list (a scalar is a list of one).
    pub fn weights(&self, name: &str) -> Result<Option<(Vec<T>, bool)>, UflError> {
        match self.get(name)? {
            Hp::Null => Ok(None),
            Hp::Real(x) => Ok(Some((vec![*x], true))),
            Hp::List(xs) => Ok(Some((xs.clone(), false))),
            _ => Err(internal(name)),
        }
    }

    pub fn flag(&self, name: &str) -> Result<bool, UflError> {
        match self.get(name)? {
            Hp::Bool(b) => Ok(*b),
            _ => Err(internal(name)),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, UflError> {
        match self.get(name)? {
            Hp::Int(i) => Ok(Some(*i)),
            Hp::Null => Ok(None),
            _ => Err(internal(name)),
        }
    }

    pub fn word(&self, name: &str) -> Result<&'static str, UflError> {
        match self.get(name)? {
            Hp::Word(w) => Ok(w),
            _ => Err(internal(name)),
        }
    }

    /// A class list; `None` for the default set.
    pub fn classes(&self, name: &str) -> Result<Option<&[usize]>, UflError> {
        match self.get(name)? {
            Hp::Classes(c) => Ok(Some(c)),
            Hp::Null => Ok(None),
            _ => Err(internal(name)),
        }
    }

    /// Replaces a real parameter's value (to seed a dual number for a parameter derivative).
    pub fn set_real(&mut self, name: &str, value: T) -> Result<(), UflError> {
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some((_, slot @ Hp::Real(_))) => {
                *slot = Hp::Real(value);
                Ok(())
            }
            _ => Err(internal(name)),
        }
    }

    /// The same parameters in another number type.
    pub fn cast<U: Real>(&self) -> Hyper<U> {
        let conv = |x: T| U::cst(x.val());
        Hyper {
            function: self.function,
            convention: self.convention,
            values: self
                .values
                .iter()
                .map(|(n, v)| {
                    let v = match v {
                        Hp::Null => Hp::Null,
                        Hp::Bool(b) => Hp::Bool(*b),
                        Hp::Real(x) => Hp::Real(conv(*x)),
                        Hp::List(xs) => Hp::List(xs.iter().map(|x| conv(*x)).collect()),
                        Hp::Int(i) => Hp::Int(*i),
                        Hp::Word(w) => Hp::Word(w),
                        Hp::Classes(c) => Hp::Classes(c.clone()),
                    };
                    (*n, v)
                })
                .collect(),
        }
    }

    /// The resolved values as user-facing parameter values (for reports).
    pub fn describe(&self) -> Params {
        self.values
            .iter()
            .map(|(n, v)| {
                let pv = match v {
                    Hp::Null => ParamValue::Null,
                    Hp::Bool(b) => ParamValue::Bool(*b),
                    Hp::Real(x) => ParamValue::Number(x.val()),
                    Hp::List(xs) => ParamValue::List(xs.iter().map(|x| x.val()).collect()),
                    Hp::Int(i) => ParamValue::Number(*i as f64),
                    Hp::Word(w) => ParamValue::Text(w.to_string()),
                    Hp::Classes(c) => ParamValue::List(c.iter().map(|&i| i as f64).collect()),
                };
                (n.to_string(), pv)
            })
            .collect()
    }
}

fn check_value(spec: &ParamSpec, value: &ParamValue) -> Result<Hp<f64>, UflError> {
    let bad = |reason: String| UflError::InvalidParameter {
        name: spec.name.to_string(),
        value: value.to_string(),
        reason,
    };
    let in_range = |x: f64| -> Result<f64, UflError> {
        if !x.is_finite() {
            return Err(bad("must be finite".to_string()));
        }
        if !spec.range.contains(x) {
            return Err(bad(format!("must lie in {}", spec.range)));
        }
        Ok(x)
    };
    let integer = |x: f64| -> Result<i64, UflError> {
        let x = in_range(x)?;
        if x.fract() != 0.0 {
            return Err(bad("must be an integer".to_string()));
        }
        Ok(x as i64)
    };
    match (spec.kind, value) {
        (Kind::Real | Kind::RealOrNull | Kind::RealOrListOrNull, ParamValue::Number(x)) => {
            Ok(Hp::Real(in_range(*x)?))
        }
        (
            Kind::RealOrNull | Kind::RealOrListOrNull | Kind::IntOrNull | Kind::ClassesOrNull,
            ParamValue::Null,
        ) => Ok(Hp::Null),
        (Kind::RealOrListOrNull, ParamValue::List(xs)) => {
            if xs.is_empty() {
                return Err(bad("an empty list weights nothing".to_string()));
            }
            Ok(Hp::List(
                xs.iter().map(|&x| in_range(x)).collect::<Result<_, _>>()?,
            ))
        }
        (Kind::Bool, ParamValue::Bool(b)) => Ok(Hp::Bool(*b)),
        (Kind::Int | Kind::IntOrNull, ParamValue::Number(x)) => Ok(Hp::Int(integer(*x)?)),
        (Kind::Choice(words), ParamValue::Text(t)) => words
            .iter()
            .find(|w| *w == t)
            .map(|w| Hp::Word(w))
            .ok_or_else(|| bad(format!("must be one of {}", words.join(", ")))),
        (Kind::ClassesOrNull, ParamValue::List(xs)) => {
            let mut classes = Vec::with_capacity(xs.len());
            for &x in xs {
                if !(x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x < 65536.0) {
                    return Err(bad("class indices are non-negative integers".to_string()));
                }
                classes.push(x as usize);
            }
            classes.sort_unstable();
            if classes.windows(2).any(|w| w[0] == w[1]) {
                return Err(bad("a class is listed twice".to_string()));
            }
            Ok(Hp::Classes(classes))
        }
        (kind, _) => Err(bad(format!("expected {}", kind_words(kind)))),
    }
}

fn kind_words(kind: Kind) -> String {
    match kind {
        Kind::Real => "a number".into(),
        Kind::RealOrNull => "a number or null".into(),
        Kind::RealOrListOrNull => "a number, a list of numbers, or null".into(),
        Kind::Bool => "true or false".into(),
        Kind::Int => "an integer".into(),
        Kind::IntOrNull => "an integer or null".into(),
        Kind::Choice(words) => format!("one of {}", words.join(", ")),
        Kind::ClassesOrNull => "a list of class indices or null".into(),
    }
}

fn default_value(spec: &ParamSpec) -> Hp<f64> {
    match spec.default {
        Default::Real(x) => Hp::Real(x),
        Default::Null => Hp::Null,
        Default::Bool(b) => Hp::Bool(b),
        Default::Int(i) => Hp::Int(i),
        Default::Word(w) => Hp::Word(w),
    }
}

/// Checks `given` against the registry and fills in the defaults.
pub fn resolve(
    function: FunctionId,
    convention: Convention,
    given: &Params,
) -> Result<Hyper<f64>, UflError> {
    let spec = function.spec();
    let signature = spec
        .signature(convention)
        .ok_or_else(|| UflError::UnsupportedConvention {
            function: spec.name.to_string(),
            convention: convention.name().to_string(),
        })?;
    for name in given.keys() {
        if !signature.params.iter().any(|p| p.name == name) {
            return Err(UflError::UnknownParameter {
                function: spec.name.to_string(),
                convention: convention.name().to_string(),
                name: name.clone(),
            });
        }
    }
    let values = signature
        .params
        .iter()
        .map(|p| {
            let v = match given.get(p.name) {
                Some(v) => check_value(p, v)?,
                None => default_value(p),
            };
            Ok((p.name, v))
        })
        .collect::<Result<_, UflError>>()?;
    Ok(Hyper {
        function,
        convention,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, ParamValue)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn defaults_fill_in_and_values_are_checked() {
        let h = resolve(
            FunctionId::AsymUnifiedFocalLoss,
            Convention::Original,
            &Params::new(),
        )
        .unwrap();
        assert_eq!(h.real("delta").unwrap(), 0.6);
        assert_eq!(h.opt_real("weight").unwrap(), Some(0.5));
        let h = resolve(
            FunctionId::AsymUnifiedFocalLoss,
            Convention::Monai,
            &Params::new(),
        )
        .unwrap();
        assert_eq!(h.real("delta").unwrap(), 0.7);
        let e = resolve(
            FunctionId::DiceLoss,
            Convention::Original,
            &params(&[("delta", ParamValue::Number(1.5))]),
        );
        assert!(matches!(e, Err(UflError::InvalidParameter { .. })));
        let e = resolve(
            FunctionId::DiceLoss,
            Convention::Original,
            &params(&[("gamma", ParamValue::Number(1.0))]),
        );
        assert!(matches!(e, Err(UflError::UnknownParameter { .. })));
        let e = resolve(FunctionId::DiceLoss, Convention::Monai, &Params::new());
        assert!(matches!(e, Err(UflError::UnsupportedConvention { .. })));
        let e = resolve(
            FunctionId::DiceLoss,
            Convention::Original,
            &params(&[("delta", ParamValue::Number(f64::NAN))]),
        );
        assert!(matches!(e, Err(UflError::InvalidParameter { .. })));
    }

    #[test]
    fn cli_values_parse() {
        assert_eq!(
            ParamValue::parse_cli("a", "0.25").unwrap(),
            ParamValue::Number(0.25)
        );
        assert_eq!(
            ParamValue::parse_cli("a", "[0.25, 0.75]").unwrap(),
            ParamValue::List(vec![0.25, 0.75])
        );
        assert_eq!(
            ParamValue::parse_cli("a", "null").unwrap(),
            ParamValue::Null
        );
        assert_eq!(
            ParamValue::parse_cli("a", "mean").unwrap(),
            ParamValue::Text("mean".into())
        );
        assert!(ParamValue::parse_cli("a", "[1, [2]]").is_err());
    }
}
