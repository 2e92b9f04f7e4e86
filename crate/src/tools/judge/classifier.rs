//! The judge's digit classifier: a small CNN trained on single train-split MNIST images only
//! (`scripts/trainer/judge.py`), run here with burn.

use crate::model::{ModelError, Result};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::module::{conv2d, linear, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;

pub const CROP: usize = 28;

pub struct DigitClassifier {
    conv1: (Tensor<4>, Tensor<1>),
    conv2: (Tensor<4>, Tensor<1>),
    fc1: (Tensor<2>, Tensor<1>),
    fc2: (Tensor<2>, Tensor<1>),
    device: Device,
}

fn tensor<const D: usize>(file: &SafeTensors, name: &str, shape: [usize; D], device: &Device) -> Result<Tensor<D>> {
    let view = file.tensor(name).map_err(|_| ModelError::MissingTensor { name: name.into() })?;
    if view.shape() != shape {
        return Err(ModelError::Shape { name: name.into(), expected: shape.to_vec(), found: view.shape().to_vec() });
    }
    let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(Tensor::from_data(TensorData::new(values, shape), device))
}

impl DigitClassifier {
    /// Reads the network; its widths come from the file (conv1 `[c1,1,3,3]`, conv2 `[c2,c1,3,3]`,
    /// fc1 `[hidden, c2·7·7]`), so a retrained judge may be wider.
    pub fn load(bytes: &[u8], device: &Device) -> Result<Self> {
        let f = SafeTensors::deserialize(bytes).map_err(|e| ModelError::Format(e.to_string()))?;
        let width = |name: &str| -> Result<usize> {
            let view = f.tensor(name).map_err(|_| ModelError::MissingTensor { name: name.into() })?;
            Ok(view.shape()[0])
        };
        let (c1, c2, hidden) = (width("conv1.weight")?, width("conv2.weight")?, width("fc1.weight")?);
        Ok(Self {
            conv1: (tensor(&f, "conv1.weight", [c1, 1, 3, 3], device)?, tensor(&f, "conv1.bias", [c1], device)?),
            conv2: (tensor(&f, "conv2.weight", [c2, c1, 3, 3], device)?, tensor(&f, "conv2.bias", [c2], device)?),
            fc1: (tensor::<2>(&f, "fc1.weight", [hidden, c2 * 7 * 7], device)?.transpose(), tensor(&f, "fc1.bias", [hidden], device)?),
            fc2: (tensor::<2>(&f, "fc2.weight", [10, hidden], device)?.transpose(), tensor(&f, "fc2.bias", [10], device)?),
            device: device.clone(),
        })
    }

    /// Class probabilities of 28×28 crops (values 0–255), `[crops][10]`.
    pub async fn classify(&self, crops: &[[u8; CROP * CROP]]) -> Result<Vec<[f32; 10]>> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let n = crops.len();
        let values: Vec<f32> = crops.iter().flat_map(|c| c.iter().map(|&v| v as f32 / 255.0)).collect();
        let x = Tensor::<4>::from_data(TensorData::new(values, [n, 1, CROP, CROP]), &self.device);
        let same = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let x = max_pool2d(relu(conv2d(x, self.conv1.0.clone(), Some(self.conv1.1.clone()), same.clone())), MaxPoolOptions::new([2, 2]));
        let x = max_pool2d(relu(conv2d(x, self.conv2.0.clone(), Some(self.conv2.1.clone()), same)), MaxPoolOptions::new([2, 2]));
        let x = relu(linear(x.reshape([n, CROP / 4 * CROP / 4 * self.conv2.1.dims()[0]]), self.fc1.0.clone(), Some(self.fc1.1.clone())));
        let probs = softmax(linear(x, self.fc2.0.clone(), Some(self.fc2.1.clone())), 1);
        let data = probs.into_data_async().await.map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        let flat = data.try_into_vec::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))?;
        Ok(flat.chunks_exact(10).map(|c| c.try_into().expect("10 classes")).collect())
    }
}
