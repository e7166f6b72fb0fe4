//! Every option of `train`, declared once. [`TrainOptions`] is read by clap from the command
//! line (its `--help` text and defaults are here) and by serde from a config file (keys named
//! like the long options with `_` for `-`). The two are merged generically, by key: the
//! command line wins, then the file, then the defaults ([`TrainOptions::merge`]). Adding an
//! option is a field here and, when training uses it, a field of [`TrainConfig`].

use std::path::PathBuf;
use std::str::FromStr;

use clap::{ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CellKind, LrSchedule, OptimizerKind, Pooling, TrainConfig};
use crate::error::{Error, Result};
use crate::text::{TokenizerConfig, Truncation};

fn defaults() -> TrainConfig {
    TrainConfig::default()
}

fn one_f64() -> f64 {
    1.0
}

/// The training options a command line or a config file can set. Field names are the clap
/// ids, the config keys and the serde names at once.
#[derive(Clone, Debug, PartialEq, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {
    /// Where to write the model; a name ending in .gz writes it gzip-compressed (every command
    /// reads either).
    #[arg(short, long, default_value = "model.json")]
    pub output: PathBuf,
    /// Recurrent cell.
    #[arg(long, value_enum, default_value_t = defaults().cell)]
    pub cell: CellKind,
    /// Embedding size E.
    #[arg(long, default_value_t = defaults().embed_dim)]
    pub embed_dim: usize,
    /// Hidden size H.
    #[arg(long, default_value_t = defaults().hidden_dim)]
    pub hidden_dim: usize,
    /// Stacked recurrent layers.
    #[arg(long, default_value_t = defaults().layers)]
    pub layers: usize,
    /// Also run each layer over the reversed text and concatenate both directions. Off:
    /// --no-bidirectional.
    #[arg(long, action = ArgAction::SetTrue, default_value_t = defaults().bidirectional, overrides_with = "no_bidirectional")]
    pub bidirectional: bool,
    /// Turns --bidirectional off.
    #[arg(long, hide = true, overrides_with = "bidirectional")]
    #[serde(skip)]
    pub no_bidirectional: bool,
    /// How the head summarises the top layer's outputs over the real tokens.
    #[arg(long, value_enum, default_value_t = defaults().pooling)]
    pub pooling: Pooling,
    /// Dropout between stacked layers and before the head (training only).
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().dropout)]
    pub dropout: f64,
    /// Standard deviation of the embedding's normal initialisation (PyTorch uses 1).
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().embed_init)]
    pub embed_init: f64,
    /// Dropout on the embeddings (training only).
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().embed_dropout)]
    pub embed_dropout: f64,
    /// Initial LSTM forget-gate bias, or "none" for PyTorch's plain uniform initialisation.
    #[arg(long, value_parser = ForgetBias::from_str, default_value_t = ForgetBias(defaults().forget_bias))]
    pub forget_bias: ForgetBias,
    /// Maximum passes over the training data.
    #[arg(long, default_value_t = defaults().epochs)]
    pub epochs: usize,
    /// Texts per training batch.
    #[arg(long, default_value_t = defaults().batch_size)]
    pub batch_size: usize,
    /// Learning rate.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().lr)]
    pub lr: f64,
    /// Optimizer.
    #[arg(long, value_enum, default_value_t = defaults().optimizer)]
    pub optimizer: OptimizerKind,
    /// Momentum (SGD only).
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().momentum)]
    pub momentum: f64,
    /// Weight decay on weight matrices (decoupled, AdamW, for adam; L2 for sgd); biases never.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().weight_decay)]
    pub weight_decay: f64,
    /// Learning-rate schedule after warm-up: constant, or linear/cosine decay to 0.
    #[arg(long, value_enum, default_value_t = defaults().lr_schedule)]
    pub lr_schedule: LrSchedule,
    /// Linear learning-rate warm-up over this fraction of all steps.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().warmup)]
    pub warmup: f64,
    /// Batch texts of similar length together (seeded, shuffled buckets). Off: --no-bucket.
    #[arg(long, action = ArgAction::SetTrue, default_value_t = defaults().bucket, overrides_with = "no_bucket")]
    pub bucket: bool,
    /// Turns --bucket off.
    #[arg(long, hide = true, overrides_with = "bucket")]
    #[serde(skip)]
    pub no_bucket: bool,
    /// Weight of the positive class in the loss (>1 favours recall on positives).
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().pos_weight)]
    pub pos_weight: f64,
    /// Class names in output order, separated by commas (e.g. neg,neutral,pos): fixes the
    /// order reports and confusion matrices show, and makes two-label data K classes. Every
    /// label of the data must be listed [default: from the data: binary for 1/0,
    /// positive/negative, pos/neg, true/false; else K classes, in numeric order when every
    /// label is an integer, otherwise sorted by name].
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Weights of K classes in the loss (CrossEntropyLoss(weight=)), as name=w separated by
    /// commas (e.g. neutral=2,pos=0.5); a class not listed weighs 1.
    #[arg(long, value_delimiter = ',', value_name = "NAME=W", value_parser = ClassWeight::from_str)]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_weight: Vec<ClassWeight>,
    /// Update every embedding row every step, exactly as PyTorch's dense Adam, instead of only
    /// the rows of the batch's tokens. Off: --no-dense-embedding-updates.
    #[arg(long, action = ArgAction::SetTrue, default_value_t = defaults().dense_embedding_updates, overrides_with = "no_dense_embedding_updates")]
    pub dense_embedding_updates: bool,
    /// Turns --dense-embedding-updates off.
    #[arg(long, hide = true, overrides_with = "dense_embedding_updates")]
    #[serde(skip)]
    pub no_dense_embedding_updates: bool,
    /// Pretrained word vectors to initialise the embedding: word2vec/GloVe/fastText text
    /// format (a word and its floats per line, optional "COUNT DIM" header). Without
    /// --embed-dim (here or in the config file), the embedding takes the file's dimension.
    #[arg(long)]
    pub embeddings: Option<PathBuf>,
    /// Start from a base model: a language model from `pretrain`, or a trained classifier
    /// (to continue on new data). Its tokenizer, vocabulary, embedding and recurrent layers are
    /// taken and a new head is made for the data's classes; the architecture and tokenizer
    /// options default to the base's, and one that contradicts it is an error.
    #[arg(long)]
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// With --init: a factor on the learning rate of the layers taken from the base (embedding
    /// and recurrent layers); the new head learns at --lr.
    #[arg(long, default_value_t = defaults().init_lr_scale)]
    #[serde(default = "one_f64")]
    pub init_lr_scale: f64,
    /// With --init: give training words the base's vocabulary lacks (seen --min-count times)
    /// new embedding rows after the base's, initialised as a fresh run's rows (or from
    /// --embeddings), up to --max-vocab entries in all. Off: --no-extend-vocab.
    #[arg(long, action = ArgAction::SetTrue, default_value_t = defaults().extend_vocab, overrides_with = "no_extend_vocab")]
    #[serde(default)]
    pub extend_vocab: bool,
    /// Turns --extend-vocab off.
    #[arg(long, hide = true, overrides_with = "extend_vocab")]
    #[serde(skip)]
    pub no_extend_vocab: bool,
    /// With --init: gradual unfreezing over the first N epochs (0: everything trains from the
    /// start). Epoch 1 trains only the new head; the base's K groups, top down (the top
    /// recurrent layer with both directions, ..., the first layer, the embedding last), join
    /// so that epoch e trains the top min(K, floor((e - 1) K / N)) of them besides the head:
    /// all of them from epoch N + 1 on (a one-layer base, K = 2, N = 2: head; + layer; all).
    /// A frozen tensor does not move and its Adam moments stay untouched.
    #[arg(long, value_name = "N", default_value_t = defaults().unfreeze_epochs)]
    #[serde(default)]
    pub unfreeze_epochs: usize,
    /// Keep the embedding fixed during training (with --embeddings: use the vectors as given).
    /// Off: --no-freeze-embeddings.
    #[arg(long, action = ArgAction::SetTrue, default_value_t = defaults().freeze_embeddings, overrides_with = "no_freeze_embeddings")]
    pub freeze_embeddings: bool,
    /// Turns --freeze-embeddings off.
    #[arg(long, hide = true, overrides_with = "freeze_embeddings")]
    #[serde(skip)]
    pub no_freeze_embeddings: bool,
    /// Clip the global gradient norm to this value; 0 turns clipping off.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().clip_norm)]
    pub clip_norm: f64,
    /// Stop after this many epochs without a lower validation loss (0: never); the saved model
    /// is always the best epoch's.
    #[arg(long, default_value_t = defaults().patience)]
    pub patience: usize,
    /// Fraction of the training data held out (stratified, seeded) for validation; ignored with --valid.
    #[arg(long, allow_negative_numbers = true, default_value_t = defaults().valid_split)]
    pub valid_split: f64,
    /// Validation data file (instead of --valid-split).
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Keep tokens seen at least this many times in the training split.
    #[arg(long, default_value_t = defaults().min_count)]
    pub min_count: usize,
    /// Largest vocabulary, counting <pad> and <unk> (= embedding rows).
    #[arg(long, default_value_t = defaults().max_vocab)]
    pub max_vocab: usize,
    /// Random seed: same data + seed + options give a byte-identical model file.
    #[arg(long, default_value_t = defaults().seed)]
    pub seed: u64,
    /// Tokens per text the model sees at most.
    #[arg(long, default_value_t = defaults().tokenizer.max_len)]
    pub max_len: usize,
    /// Which end of a longer text is cut: right keeps the first --max-len tokens, left the last.
    #[arg(long, value_enum, default_value_t = defaults().tokenizer.truncation)]
    pub truncation: Truncation,
    /// Lowercase text before splitting. Off: --no-lowercase.
    #[arg(long, action = ArgAction::SetTrue, default_value_t = defaults().tokenizer.lowercase, overrides_with = "no_lowercase")]
    pub lowercase: bool,
    /// Turns --lowercase off.
    #[arg(long, hide = true, overrides_with = "lowercase")]
    #[serde(skip)]
    pub no_lowercase: bool,
    /// Keep punctuation, symbol and emoji tokens. Off: --no-punctuation.
    #[arg(long, action = ArgAction::SetTrue, default_value_t = defaults().tokenizer.punctuation, overrides_with = "no_punctuation")]
    pub punctuation: bool,
    /// Turns --punctuation off.
    #[arg(long, hide = true, overrides_with = "punctuation")]
    #[serde(skip)]
    pub no_punctuation: bool,
    /// Replace HTML tags such as <br /> with spaces. Off: --no-strip-html.
    #[arg(long, action = ArgAction::SetTrue, default_value_t = defaults().tokenizer.strip_html, overrides_with = "no_strip_html")]
    pub strip_html: bool,
    /// Turns --strip-html off.
    #[arg(long, hide = true, overrides_with = "strip_html")]
    #[serde(skip)]
    pub no_strip_html: bool,
    /// Name of the column holding the text.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// Name of the column holding the label: binary words (1/0, positive/negative, pos/neg,
    /// true/false), or any other label set as K named classes (see --classes).
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// Field separator: comma, tab, semicolon, pipe or one ASCII character [default: tab for
    /// .tsv files, comma otherwise].
    #[arg(long, value_parser = Delimiter::from_str)]
    pub delimiter: Option<Delimiter>,
    /// Also write a report of the run into this directory (created if missing): report.html,
    /// self-contained, with charts of loss, accuracy, learning rate and throughput per epoch,
    /// data statistics and the configuration; and history.csv, one row per epoch.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// No progress output on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The options a resumed run may change: where the model and report go, and what is printed.
/// Every other option shapes the model, and must stay the interrupted run's.
pub const RUN_ONLY: [&str; 3] = ["output", "report", "quiet"];

/// Only the options, for reading their defaults through clap.
#[derive(Parser)]
struct OnlyOptions {
    #[command(flatten)]
    options: TrainOptions,
}

impl Default for TrainOptions {
    /// The defaults as clap gives them for an empty command line: one source for both.
    fn default() -> Self {
        let matches = OnlyOptions::command()
            .try_get_matches_from(["defaults"])
            .expect("every option has a default or is optional");
        OnlyOptions::from_arg_matches(&matches)
            .expect("the defaults parse")
            .options
    }
}

impl TrainOptions {
    /// Every key a config file may set (the field names).
    pub fn keys() -> &'static [&'static str] {
        field_names::<TrainOptions>()
    }

    /// These options with each `(key, value)` of `overrides` put in place of the field of
    /// that name: the one generic merge of options from any source. A value of the wrong type
    /// is an error naming the key.
    pub fn with<'a>(
        &self,
        overrides: impl IntoIterator<Item = (&'a str, &'a Value)>,
    ) -> std::result::Result<Self, (String, String)> {
        with_keys(self, overrides)
    }

    /// The options of a run: these (parsed from the command line) with every key the config
    /// `file` sets and `typed` says the command line did not, taken from the file.
    pub fn merge(&self, file: &super::ConfigFile, typed: impl Fn(&str) -> bool) -> Result<Self> {
        let mut own = self.clone();
        own.resolve_switches();
        // The command line's own values first, so that a bad one is named as the option it is
        // (JSON, the merge's medium, has no NaN or infinity to carry it through).
        own.to_config()?;
        own.with(file.values().filter(|(key, _)| !typed(key)))
            .map_err(|(key, message)| Error::option("config", format!("{key}: {message}")))
    }

    /// The options of a resumed run: these, the interrupted run's, with each option `given`
    /// again (on the command line or in a config file) taken from `asked` when it only says
    /// where results go or what is printed ([`RUN_ONLY`]). Any other option given again must
    /// be the same: `Err((key, asked value, recorded value))` names the first that is not.
    pub fn continued(
        &self,
        asked: &TrainOptions,
        given: impl Fn(&str) -> bool,
    ) -> std::result::Result<TrainOptions, (String, Value, Value)> {
        let recorded = serde_json::to_value(self).expect("options serialize to JSON");
        let asked_values = serde_json::to_value(asked).expect("options serialize to JSON");
        let mut changes = Vec::new();
        for &key in Self::keys().iter().filter(|k| given(k)) {
            let (old, new) = (&recorded[key], &asked_values[key]);
            if RUN_ONLY.contains(&key) {
                changes.push((key, new));
            } else if old != new {
                return Err((key.to_string(), new.clone(), old.clone()));
            }
        }
        Ok(self
            .with(changes)
            .expect("values of the same options deserialize"))
    }

    /// The on/off options, each with its `--no-` twin: `(switch, negation)`.
    fn switches(&mut self) -> [(&mut bool, &mut bool); 8] {
        [
            (&mut self.bidirectional, &mut self.no_bidirectional),
            (&mut self.bucket, &mut self.no_bucket),
            (
                &mut self.dense_embedding_updates,
                &mut self.no_dense_embedding_updates,
            ),
            (&mut self.extend_vocab, &mut self.no_extend_vocab),
            (&mut self.freeze_embeddings, &mut self.no_freeze_embeddings),
            (&mut self.lowercase, &mut self.no_lowercase),
            (&mut self.punctuation, &mut self.no_punctuation),
            (&mut self.strip_html, &mut self.no_strip_html),
        ]
    }

    /// Folds each `--no-x` into its switch `x`. Of `--x` and `--no-x` the last given wins:
    /// clap resets the overridden one to its default, so `x` is on exactly when it is (by
    /// default or by `--x`) and `--no-x` is not set.
    fn resolve_switches(&mut self) {
        for (on, off) in self.switches() {
            *on &= !*off;
            *off = false;
        }
    }

    /// Whether the command line `m` set option `key`: as `--key VALUE`, or for a switch as
    /// `--key` or `--no-key`.
    pub fn typed(m: &ArgMatches, key: &str) -> bool {
        let given = |id: &str| {
            m.try_get_raw(id).is_ok_and(|v| v.is_some())
                && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
        };
        given(key) || given(&format!("no_{key}"))
    }

    /// `config` for data whose labels name `classes` (empty: binary labels), with the class
    /// weights of `--class-weight` resolved by name into class order, validated again.
    pub fn with_classes(&self, config: TrainConfig, classes: &[String]) -> Result<TrainConfig> {
        let mut config = TrainConfig {
            classes: classes.to_vec(),
            class_weights: Vec::new(),
            ..config
        };
        if !self.class_weight.is_empty() {
            if classes.is_empty() {
                return Err(Error::option(
                    "class-weight",
                    "is for K-class labels, and these labels are binary; weigh the positive \
                     class with --pos-weight, or make them classes with --classes",
                ));
            }
            let mut weights = vec![None; classes.len()];
            for ClassWeight { class, weight } in &self.class_weight {
                let k = classes.iter().position(|c| c == class).ok_or_else(|| {
                    Error::option(
                        "class-weight",
                        format!(
                            "{class:?} is not a class; the classes are {}",
                            crate::data::list_classes(classes)
                        ),
                    )
                })?;
                if weights[k].replace(*weight).is_some() {
                    return Err(Error::option(
                        "class-weight",
                        format!("class {class:?} is weighed twice"),
                    ));
                }
            }
            config.class_weights = weights.into_iter().map(|w| w.unwrap_or(1.0)).collect();
        }
        config.validate()?;
        Ok(config)
    }

    /// The validated training configuration these options give.
    pub fn to_config(&self) -> Result<TrainConfig> {
        let config = TrainConfig {
            cell: self.cell,
            embed_dim: self.embed_dim,
            hidden_dim: self.hidden_dim,
            layers: self.layers,
            bidirectional: self.bidirectional,
            pooling: self.pooling,
            embed_dropout: self.embed_dropout,
            embed_init: self.embed_init,
            dropout: self.dropout,
            forget_bias: self.forget_bias.0,
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            optimizer: self.optimizer,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            lr_schedule: self.lr_schedule,
            warmup: self.warmup,
            bucket: self.bucket,
            pos_weight: self.pos_weight,
            embeddings: self.embeddings.clone(),
            init: self.init.clone(),
            init_lr_scale: self.init_lr_scale,
            extend_vocab: self.extend_vocab,
            unfreeze_epochs: self.unfreeze_epochs,
            freeze_embeddings: self.freeze_embeddings,
            dense_embedding_updates: self.dense_embedding_updates,
            clip_norm: self.clip_norm,
            patience: self.patience,
            valid_split: self.valid_split,
            min_count: self.min_count,
            max_vocab: self.max_vocab,
            seed: self.seed,
            tokenizer: TokenizerConfig {
                lowercase: self.lowercase,
                punctuation: self.punctuation,
                strip_html: self.strip_html,
                max_len: self.max_len,
                truncation: self.truncation,
            },
            // The data's label set decides these (the command line's data reading).
            classes: Vec::new(),
            class_weights: Vec::new(),
        };
        config.validate()?;
        Ok(config)
    }
}

/// The field names serde uses for struct `T`, captured from `deserialize_struct` so that the
/// list can never drift from the struct.
/// `base` with each `(key, value)` of `overrides` put in place of the field of that name,
/// for any options struct of named fields; a value of the wrong type is an error naming the
/// key (checked one key at a time, so that the error names the key that is wrong).
pub(crate) fn with_keys<'a, T: Serialize + serde::de::DeserializeOwned>(
    base: &T,
    overrides: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> std::result::Result<T, (String, String)> {
    let mut merged = serde_json::to_value(base).expect("options serialize to JSON");
    for (key, value) in overrides {
        merged[key] = value.clone();
        T::deserialize(&merged).map_err(|e| (key.to_string(), e.to_string()))?;
    }
    T::deserialize(merged).map_err(|e| (String::new(), e.to_string()))
}

pub(crate) fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Capture<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Capture<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(
            self,
            _: V,
        ) -> std::result::Result<V::Value, Self::Error> {
            Err(de::Error::custom("field names only"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> std::result::Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("field names only"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Capture(&mut fields));
    fields
}

/// The LSTM forget-gate bias: a number, or `None` ("none") for PyTorch's plain uniform
/// initialisation. On the command line and in a config file: a number or `"none"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForgetBias(pub Option<f64>);

impl FromStr for ForgetBias {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.eq_ignore_ascii_case("none") {
            return Ok(Self(None));
        }
        s.parse::<f64>()
            .map(|b| Self(Some(b)))
            .map_err(|_| format!("{s:?} is not a number or \"none\""))
    }
}

impl std::fmt::Display for ForgetBias {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(b) => write!(f, "{b}"),
            None => f.write_str("none"),
        }
    }
}

impl Serialize for ForgetBias {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Some(b) => s.serialize_f64(b),
            None => s.serialize_str("none"),
        }
    }
}

impl<'de> Deserialize<'de> for ForgetBias {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        /// A number or the word "none".
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Value(f64),
            Word(String),
        }
        match Written::deserialize(d)? {
            Written::Value(b) => Ok(Self(Some(b))),
            Written::Word(w) if w == "none" => Ok(Self(None)),
            Written::Word(w) => Err(serde::de::Error::custom(format!(
                "{w:?} is not a number or \"none\""
            ))),
        }
    }
}

/// One `--class-weight` entry, `name=weight` (written so in config files too). The name is
/// everything before the last `=`, trimmed.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassWeight {
    pub class: String,
    pub weight: f64,
}

impl FromStr for ClassWeight {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (class, weight) = s
            .rsplit_once('=')
            .ok_or_else(|| format!("{s:?} is not name=weight (e.g. neutral=2)"))?;
        let weight: f64 = weight
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {weight:?} is not a number"))?;
        Ok(Self {
            class: class.trim().to_string(),
            weight,
        })
    }
}

impl Serialize for ClassWeight {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}={}", self.class, self.weight))
    }
}

impl<'de> Deserialize<'de> for ClassWeight {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A CSV field separator, written as a name (`comma`, `tab`, `semicolon`, `pipe`) or one ASCII
/// character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delimiter(pub u8);

impl FromStr for Delimiter {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        crate::data::parse_delimiter(s).map(Self)
    }
}

impl Serialize for Delimiter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&char::from(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for Delimiter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_training_defaults() {
        let options = TrainOptions::default();
        assert_eq!(options.to_config().unwrap(), TrainConfig::default());
        assert_eq!(options.output, PathBuf::from("model.json"));
        assert_eq!((options.valid.as_ref(), options.quiet), (None, false));
    }

    #[test]
    fn a_merge_takes_each_key_and_names_a_wrong_one() {
        let base = TrainOptions::default();
        let values = [
            ("epochs", Value::from(3)),
            ("forget_bias", Value::from("none")),
            ("delimiter", Value::from(";")),
            ("max_len", Value::from(7)),
        ];
        let merged = base.with(values.iter().map(|(k, v)| (*k, v))).unwrap();
        assert_eq!(merged.epochs, 3);
        assert_eq!(merged.forget_bias, ForgetBias(None));
        assert_eq!(merged.delimiter, Some(Delimiter(b';')));
        let config = merged.to_config().unwrap();
        assert_eq!((config.tokenizer.max_len, config.forget_bias), (7, None));
        let wrong = Value::from("three");
        let (key, message) = base.with([("epochs", &wrong)]).unwrap_err();
        assert_eq!(key, "epochs");
        assert!(message.contains("three"), "{message}");
    }

    #[test]
    fn classes_and_class_weights_merge_and_resolve_by_name() {
        let base = TrainOptions::default();
        let classes = serde_json::json!(["neg", "neutral", "pos"]);
        let weights = serde_json::json!(["pos=0.5", "neutral = 2"]);
        let merged = base
            .with([("classes", &classes), ("class_weight", &weights)])
            .unwrap();
        assert_eq!(merged.classes, ["neg", "neutral", "pos"]);
        // Written back as they are read (a checkpoint records them so).
        let json = serde_json::to_value(&merged).unwrap();
        assert_eq!(
            json["class_weight"],
            serde_json::json!(["pos=0.5", "neutral=2"])
        );
        let names: Vec<String> = merged.classes.clone();
        let config = merged
            .with_classes(merged.to_config().unwrap(), &names)
            .unwrap();
        assert_eq!(config.class_weights, [1.0, 2.0, 0.5]);
        // Binary options serialize without the two keys.
        let json = serde_json::to_value(&base).unwrap();
        assert!(json.get("classes").is_none() && json.get("class_weight").is_none());
        let e = merged
            .with_classes(TrainConfig::default(), &[])
            .unwrap_err();
        assert!(e.to_string().contains("--pos-weight"), "{e}");
        assert!("neutral".parse::<ClassWeight>().is_err());
        assert!("neutral=x".parse::<ClassWeight>().is_err());
        let twice: ClassWeight = "a=b=3".parse().unwrap();
        assert_eq!((twice.class.as_str(), twice.weight), ("a=b", 3.0));
    }

    #[test]
    fn forget_bias_and_delimiter_read_as_they_are_written() {
        for text in ["1.5", "none"] {
            let b: ForgetBias = text.parse().unwrap();
            assert_eq!(b.to_string(), text);
            let json = serde_json::to_value(b).unwrap();
            assert_eq!(serde_json::from_value::<ForgetBias>(json).unwrap(), b);
        }
        assert!("nope".parse::<ForgetBias>().is_err());
        let tab: Delimiter = "tab".parse().unwrap();
        let json = serde_json::to_value(tab).unwrap();
        assert_eq!(serde_json::from_value::<Delimiter>(json).unwrap(), tab);
    }
}
