use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("invalid model config: {0}")]
    Config(String),
    #[error("weights: tensor '{name}' is missing; the file does not match this model config")]
    MissingTensor { name: String },
    #[error("weights: tensor '{name}' has shape {found:?}, the config needs {expected:?}")]
    Shape { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("weights: tensor '{name}' has dtype {dtype}, expected F32, F16 or BF16")]
    DType { name: String, dtype: String },
    #[error("weights: tensor '{name}' contains NaN or infinite values")]
    NonFinite { name: String },
    #[error("weights: cannot parse safetensors: {0}")]
    Format(String),
    #[error("the '{group}' weights are not loaded yet")]
    NotLoaded { group: &'static str },
    #[error("input: {0}")]
    Input(String),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error("backend: {0}")]
    Backend(String),
    #[error("cancelled after step {step} of {steps}")]
    Cancelled { step: usize, steps: usize },
}

pub type Result<T> = std::result::Result<T, ModelError>;
