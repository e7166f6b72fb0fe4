//! `eval` of a K-class model: the data read against the model's classes, per-class metrics,
//! the confusion matrix with class names, the quality gates.

use std::path::Path;

use anyhow::{bail, Result};

use rnn_sentiment::data::{self, LabelSet};
use rnn_sentiment::metrics::{self, ClassMetrics};
use rnn_sentiment::report;
use rnn_sentiment::report::evaluation_classes::ClassEvaluationRun;
use rnn_sentiment::sentiment::SentimentModel;

use super::args::csv_options;
use super::eval::{EvalArgs, Gates};
use super::output::write_report;

/// Refuses what only a binary model has: a threshold and its tuning.
fn check_binary_only_options(args: &EvalArgs, model: &SentimentModel) -> Result<()> {
    let shown = args.model.model.display();
    let k = model.classes().len();
    let binary_only = [
        (args.tune_threshold.is_some(), "--tune-threshold"),
        (args.threshold.is_some(), "--threshold"),
    ];
    if let Some((_, option)) = binary_only.iter().find(|(given, _)| *given) {
        bail!(
            "{option} is for binary models; {shown} is a K-class model of {k} classes ({}), \
             which predicts the most probable class: leave out {option}",
            data::list_classes(model.classes())
        );
    }
    Ok(())
}

pub(crate) fn eval_classes(args: &EvalArgs, model: &SentimentModel) -> Result<i32> {
    check_binary_only_options(args, model)?;
    let csv = csv_options(&args.csv, model.training.input.as_ref())?;
    let rows = data::read_rows(&args.data, &csv)?;
    let labels = LabelSet::of_model(model.classes());
    let examples = data::assign_labels(rows, &labels, &args.data, "the model's classes")?;
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let targets: Vec<usize> = examples.iter().map(|e| e.label).collect();
    let logits = model.class_logits(&texts);
    let m = metrics::evaluate_classes(logits.view(), &targets, model.classes());
    let gates = Gates::of(args, m.accuracy, m.macro_f1);
    if let Some(dir) = &args.report {
        let run = ClassEvaluationRun {
            model_path: &args.model.model,
            data_path: &args.data,
            examples: &examples,
            logits: logits.view(),
            metrics: &m,
            mistakes: args.mistakes,
        };
        write_report(&report::evaluation_classes::render(&run)?, dir, false)?;
    }
    if args.json {
        let mut value = args.json_value(&m)?;
        gates.add_to(&mut value);
        say!("{value}");
    } else {
        print_class_metrics(&m, &args.data)?;
    }
    Ok(gates.exit_code())
}

/// The metrics as text: totals, a per-class table and the confusion matrix, classes in the
/// model's order.
fn print_class_metrics(m: &ClassMetrics, data: &Path) -> Result<()> {
    say!("data         {} ({} rows)", data.display(), m.count);
    say!(
        "classes      {} ({})",
        m.classes.len(),
        data::list_classes(&m.classes)
    );
    say!("accuracy     {:.4}", m.accuracy);
    say!("macro_f1     {:.4}", m.macro_f1);
    say!("weighted_f1  {:.4}", m.weighted_f1);
    say!("log_loss     {:.4}", m.log_loss);
    let width = m
        .classes
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    say!("{:<width$}  precision  recall      f1  support", "class");
    for s in &m.per_class {
        say!(
            "{:<width$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
            s.class,
            s.precision,
            s.recall,
            s.f1,
            s.support
        );
    }
    say!("confusion (rows: actual, columns: predicted)");
    let cell = m
        .classes
        .iter()
        .map(|c| c.chars().count())
        .chain(std::iter::once(m.count.to_string().len()))
        .max()
        .unwrap_or(1);
    let header: Vec<String> = m.classes.iter().map(|c| format!("{c:>cell$}")).collect();
    say!("  {:<width$}  {}", "", header.join(" "));
    for (name, row) in m.classes.iter().zip(&m.confusion) {
        let counts: Vec<String> = row.iter().map(|n| format!("{n:>cell$}")).collect();
        say!("  {name:<width$}  {}", counts.join(" "));
    }
    Ok(())
}
