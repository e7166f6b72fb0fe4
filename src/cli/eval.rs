//! `eval`: a model on labelled data, metrics, the quality gate, the report.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;

use rnn_sentiment::data;
use rnn_sentiment::files::{self, Use};
use rnn_sentiment::metrics::{self, Metrics, Objective};
use rnn_sentiment::model_file;
use rnn_sentiment::report;
use rnn_sentiment::report::evaluation::EvaluationRun;

use super::args::{
    check_threshold, csv_options, report_paths, set_inference_threads, CsvArgs, ModelArg,
};
use super::output::write_report;
use super::sniff::{load_model, reject_model_as_data};
use super::EXIT_GATE_FAILED;

pub(crate) const EVAL_JSON: &str = "\
JSON output (--json): one object on stdout:
  data, model         the paths used
  count               rows evaluated
  threshold           probability at or above which a row counts as positive
  accuracy, precision, recall, f1
  roc_auc             null when DATA holds one class only
  log_loss            mean binary cross-entropy
  positive_rate       fraction of rows labelled positive
  confusion           {true_positive, false_positive, true_negative, false_negative}
  min_accuracy, passed  only with --min-accuracy
  macro_f1, min_macro_f1, passed  only with --min-macro-f1 (macro_f1: the mean of the two
                      classes' F1)
  report              path of report.html, only with --report

For a K-class model (its labels named classes; prediction = the most probable class):
  data, model         the paths used
  count               rows evaluated
  classes             the class names in the model's order, which per_class and confusion follow
  accuracy            fraction of rows whose most probable class is their label
  macro_f1            unweighted mean of the per-class F1
  weighted_f1         mean of the per-class F1 weighted by support
  log_loss            mean cross-entropy, -ln p(label)
  per_class           [{class, precision, recall, f1, support}] in class order (precision 0
                      for a class never predicted)
  confusion           K x K counts, confusion[actual][predicted], in class order
  min_accuracy, min_macro_f1, passed  only with those gates";

#[derive(Args)]
pub(crate) struct EvalArgs {
    /// Labelled data: CSV (or TSV) with a header row.
    pub(crate) data: PathBuf,
    #[command(flatten)]
    pub(crate) model: ModelArg,
    #[command(flatten)]
    pub(crate) csv: CsvArgs,
    /// Probability at or above which a text counts as positive [default: the model's, 0.5 unless tuned].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) threshold: Option<f64>,
    /// Exit with status 1 when accuracy is below this (a CI quality gate).
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) min_accuracy: Option<f64>,
    /// Exit with status 1 when macro F1 (the unweighted mean of the classes' F1) is below this.
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) min_macro_f1: Option<f64>,
    /// Choose the threshold that maximises this metric on DATA (use validation data, not your
    /// test set) and report the metrics at it.
    #[arg(long, value_enum, conflicts_with = "threshold")]
    pub(crate) tune_threshold: Option<Objective>,
    /// With --tune-threshold: store the chosen threshold in the model file (written atomically).
    #[arg(long, requires = "tune_threshold")]
    pub(crate) store: bool,
    /// Also write a report into this directory (created if missing): report.html,
    /// self-contained, with ROC, precision-recall and calibration charts, the confusion matrix
    /// and the most confident mistakes; and mistakes.csv, every misclassified row.
    #[arg(long, value_name = "DIR")]
    pub(crate) report: Option<PathBuf>,
    /// How many of the most confident mistakes report.html lists.
    #[arg(long, default_value_t = 25, requires = "report")]
    pub(crate) mistakes: usize,
    /// Print the metrics as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Threads for scoring (0: one per core); results do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
}

pub(crate) fn print_metrics(m: &Metrics, data: &Path) -> Result<()> {
    let c = &m.confusion;
    say!(
        "data       {} ({} rows, {:.1}% positive)",
        data.display(),
        m.count,
        100.0 * m.positive_rate
    );
    say!("threshold  {}", m.threshold);
    say!("accuracy   {:.4}", m.accuracy);
    say!("precision  {:.4}", m.precision);
    say!("recall     {:.4}", m.recall);
    say!("f1         {:.4}", m.f1);
    match m.roc_auc {
        Some(auc) => say!("roc_auc    {auc:.4}"),
        None => say!("roc_auc    n/a (one class only)"),
    }
    say!("log_loss   {:.4}", m.log_loss);
    say!("confusion            predicted");
    say!("                     negative  positive");
    say!(
        "  actual negative  {:>9} {:>9}",
        c.true_negative,
        c.false_positive
    );
    say!(
        "  actual positive  {:>9} {:>9}",
        c.false_negative,
        c.true_positive
    );
    Ok(())
}

/// Checks every file `eval` reads and writes before any work (see [`check_train_files`]).
pub(crate) fn check_eval_files(args: &EvalArgs) -> Result<()> {
    let model = args.model.model.as_path();
    let mut uses = vec![
        Use::input("data file", &args.data),
        Use::input("model file", model),
    ];
    uses.extend(
        args.csv
            .config
            .as_deref()
            .map(|p| Use::input("config file", p)),
    );
    if args.store {
        uses.push(Use::output("model file to update", model));
    }
    let report_files = report_paths(args.report.as_deref(), &report::EVALUATION_FILES);
    uses.extend(report_files.iter().map(|p| Use::output("report file", p)));
    // The report directory is made: it may not be the name of another output either.
    uses.extend(
        args.report
            .as_deref()
            .map(|d| Use::output("report directory", d)),
    );
    files::check_distinct(&uses, &[("model file", "model file to update")])?;
    if args.store {
        files::check_output(model, "model file")?;
    }
    if let Some(dir) = &args.report {
        report::check_dir(dir, &report::EVALUATION_FILES)?;
    }
    Ok(())
}

pub(crate) fn eval(args: EvalArgs) -> Result<i32> {
    set_inference_threads(args.threads)?;
    for (gate, value) in [
        ("--min-accuracy", args.min_accuracy),
        ("--min-macro-f1", args.min_macro_f1),
    ] {
        if let Some(a) = value {
            if !(0.0..=1.0).contains(&a) {
                bail!("invalid value for {gate}: {a} must be between 0 and 1");
            }
        }
    }
    reject_model_as_data(
        &args.data,
        &format!("did you mean -m {}?", args.data.display()),
    )?;
    check_eval_files(&args)?;
    let mut model = load_model(&args.model.model)?;
    if !model.is_binary() {
        return super::eval_classes::eval_classes(&args, &model);
    }
    let csv = csv_options(&args.csv, model.training.input.as_ref())?;
    let examples = data::read_labeled(&args.data, &csv)?;
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let labels: Vec<bool> = examples.iter().map(data::Example::is_positive).collect();
    let logits = model.logits(&texts);
    let threshold = match args.tune_threshold {
        Some(objective) => {
            let (t, value) = metrics::best_threshold(&logits, &labels, objective);
            note!(
                "tuned threshold {t:.6} gives {} {value:.4} on {} (was {})",
                match objective {
                    Objective::Accuracy => "accuracy",
                    Objective::F1 => "F1",
                },
                args.data.display(),
                model.threshold()
            );
            if args.store {
                model.classifier.config.threshold = t;
                model_file::save(&model, &args.model.model)?;
                note!("stored threshold in {}", args.model.model.display());
            }
            t
        }
        None => check_threshold(args.threshold.unwrap_or(model.threshold()))?,
    };
    let m = metrics::evaluate(&logits, &labels, threshold);
    let macro_f1 = metrics::binary_macro_f1(&m.confusion);
    let gates = Gates::of(&args, m.accuracy, macro_f1);
    if let Some(dir) = &args.report {
        let run = EvaluationRun {
            model_path: &args.model.model,
            data_path: &args.data,
            examples: &examples,
            logits: &logits,
            metrics: &m,
            mistakes: args.mistakes,
        };
        write_report(&report::evaluation::render(&run)?, dir, false)?;
    }
    if args.json {
        let mut value = args.json_value(&m)?;
        if args.min_macro_f1.is_some() {
            value["macro_f1"] = json!(macro_f1);
        }
        gates.add_to(&mut value);
        say!("{value}");
    } else {
        print_metrics(&m, &args.data)?;
    }
    Ok(gates.exit_code())
}

impl EvalArgs {
    /// `--json`'s object: the metrics, and the data, the model and the report they came from
    /// (binary and K-class models alike).
    pub(crate) fn json_value(&self, metrics: &impl serde::Serialize) -> Result<serde_json::Value> {
        let mut value = serde_json::to_value(metrics)?;
        value["data"] = json!(self.data);
        value["model"] = json!(self.model.model);
        if let Some(dir) = &self.report {
            value["report"] = json!(dir.join("report.html"));
        }
        Ok(value)
    }
}

/// The quality gates `--min-accuracy` and `--min-macro-f1` against an evaluation's values.
pub(crate) struct Gates {
    /// (option, JSON key, limit, value) of each gate given.
    checked: Vec<(&'static str, &'static str, f64, f64)>,
}

impl Gates {
    pub(crate) fn of(args: &EvalArgs, accuracy: f64, macro_f1: f64) -> Self {
        let gates = [
            (
                "--min-accuracy",
                "min_accuracy",
                args.min_accuracy,
                accuracy,
            ),
            (
                "--min-macro-f1",
                "min_macro_f1",
                args.min_macro_f1,
                macro_f1,
            ),
        ];
        Self {
            checked: gates
                .into_iter()
                .filter_map(|(option, key, limit, value)| Some((option, key, limit?, value)))
                .collect(),
        }
    }

    fn passed(&self) -> bool {
        self.checked
            .iter()
            .all(|&(_, _, limit, value)| value >= limit)
    }

    /// Each gate's limit and, with any gate, `passed`.
    pub(crate) fn add_to(&self, value: &mut serde_json::Value) {
        for &(_, key, limit, _) in &self.checked {
            value[key] = json!(limit);
        }
        if !self.checked.is_empty() {
            value["passed"] = json!(self.passed());
        }
    }

    /// 0, or [`EXIT_GATE_FAILED`] after saying which gate failed.
    pub(crate) fn exit_code(&self) -> i32 {
        let mut code = 0;
        for &(option, _, limit, value) in &self.checked {
            if value < limit {
                let what = option.trim_start_matches("--min-").replace('-', " ");
                let what = if what == "macro f1" {
                    "macro F1".to_string()
                } else {
                    what
                };
                note!("quality gate failed: {what} {value:.4} is below {option} {limit}");
                code = EXIT_GATE_FAILED;
            }
        }
        code
    }
}
