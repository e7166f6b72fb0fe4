//! The model being served, and its reload: a new file is read, parsed and checked whole
//! before it replaces the old model in one pointer swap, so a request is scored entirely by
//! one model and a broken file never replaces a working one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use super::metrics::{Metrics, ModelFacts};
use crate::cli::inspect::model_report;
use crate::cli::sniff::check_model_path;
use rnn_sentiment::model_file;
use rnn_sentiment::sentiment::SentimentModel;

/// A loaded model and what is said of it.
pub(crate) struct LoadedModel {
    pub(crate) model: SentimentModel,
    /// `inspect --json` of it, rendered once (`GET /v1/model`).
    pub(crate) report: String,
    pub(crate) facts: ModelFacts,
}

pub(crate) struct ModelSlot {
    path: PathBuf,
    current: RwLock<Arc<LoadedModel>>,
    /// One reload at a time (SIGHUP and POST /v1/reload may come together).
    reloading: Mutex<()>,
    metrics: Metrics,
}

impl ModelSlot {
    /// Loads the model at `path`.
    pub(crate) fn load(path: &Path, metrics: &Metrics) -> Result<Self> {
        let loaded = read(path, 1)?;
        Ok(ModelSlot {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(loaded)),
            reloading: Mutex::new(()),
            metrics: metrics.clone(),
        })
    }

    /// The model serving now; a request keeps it (and so its answers' model) to the end.
    pub(crate) fn current(&self) -> Arc<LoadedModel> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again and serves it if it loads; else the old model keeps serving and
    /// the error says why. Blocking: call it off the event loop.
    pub(crate) fn reload(&self) -> Result<Arc<LoadedModel>> {
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let generation = self.current().facts.generation + 1;
        let result = read(&self.path, generation).map(Arc::new);
        self.metrics.reload(result.is_ok());
        let loaded = result?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&loaded);
        Ok(loaded)
    }
}

/// Reads, parses and checks a model file; `generation` counts the loads (1: at start).
fn read(path: &Path, generation: u64) -> Result<LoadedModel> {
    let start = Instant::now();
    check_model_path(path)?;
    let json = model_file::read_text(path)?;
    let model = model_file::parse_file(path, &json)?;
    let json_bytes = json.len() as u64;
    drop(json);
    let report = model_report(path, json_bytes, &model)?;
    let facts = ModelFacts {
        path: path.display().to_string(),
        tool_version: model.training.tool_version.clone(),
        format_version: report["format_version"].as_u64().unwrap_or_default(),
        generation,
        load_seconds: start.elapsed().as_secs_f64(),
        loaded_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    };
    Ok(LoadedModel {
        model,
        report: report.to_string(),
        facts,
    })
}
