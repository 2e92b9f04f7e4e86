//! A video clip (frames × height × width × channels, u8; grayscale or RGB), and its exchange
//! formats: animated GIF and a folder of PNG frames — what `univid data` writes and what the CLI
//! reads back.

use super::error::{DataError, Result};
use std::borrow::Cow;
use std::path::Path;

/// Frames are row-major with interleaved channels: 1 = luminance (0 = black background, 255 =
/// full ink; the shipped model), 3 = RGB (models configured with `channels: 3`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clip {
    pub frames: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
}

/// Largest decoded clip the GIF and PNG readers build (all frames): checked before each
/// allocation, so a file that declares a huge size or holds endless frames fails cleanly.
pub const MAX_DECODED_BYTES: usize = 256 << 20;

/// GIF frame delay in hundredths of a second (10 fps, the usual Moving MNIST playback).
const GIF_DELAY: u16 = 10;

impl Clip {
    /// An all-black grayscale clip.
    pub fn black(frames: usize, height: usize, width: usize) -> Self {
        Self::blank(frames, height, width, 1)
    }

    /// An all-black clip with `channels` channels.
    pub fn blank(frames: usize, height: usize, width: usize, channels: usize) -> Self {
        Self { frames, height, width, channels, pixels: vec![0; frames * height * width * channels] }
    }

    /// A grayscale clip.
    pub fn new(frames: usize, height: usize, width: usize, pixels: Vec<u8>) -> Result<Self> {
        Self::with_channels(frames, height, width, 1, pixels)
    }

    /// A clip of 1 (luminance) or 3 (RGB, interleaved) channels.
    pub fn with_channels(frames: usize, height: usize, width: usize, channels: usize, pixels: Vec<u8>) -> Result<Self> {
        if frames == 0 || height == 0 || width == 0 {
            return Err(DataError::Clip(format!("empty clip ({frames}×{height}×{width})")));
        }
        check_channels(channels)?;
        if pixels.len() != frames * height * width * channels {
            return Err(DataError::Clip(format!(
                "{} values for {frames}×{height}×{width}×{channels}",
                pixels.len()
            )));
        }
        Ok(Self { frames, height, width, channels, pixels })
    }

    /// Values per frame (pixels × channels).
    pub fn frame_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// This clip if it has `channels` channels, else a converted copy (see [`to_channels`](Self::to_channels)).
    pub fn as_channels(&self, channels: usize) -> Result<Cow<'_, Self>> {
        if self.channels == channels {
            return Ok(Cow::Borrowed(self));
        }
        self.to_channels(channels).map(Cow::Owned)
    }

    /// The same clip with `channels` channels: RGB → BT.601 luminance, or gray copied to R, G, B.
    pub fn to_channels(&self, channels: usize) -> Result<Self> {
        let pixels = match (self.channels, channels) {
            (a, b) if a == b => self.pixels.clone(),
            (3, 1) => self.pixels.chunks_exact(3).map(|px| luma(px[0], px[1], px[2])).collect(),
            (1, 3) => self.pixels.iter().flat_map(|&v| [v, v, v]).collect(),
            _ => return Err(DataError::Clip(format!("cannot convert {} channels to {channels}", self.channels))),
        };
        Self::with_channels(self.frames, self.height, self.width, channels, pixels)
    }

    pub fn frame(&self, index: usize) -> &[u8] {
        &self.pixels[index * self.frame_len()..(index + 1) * self.frame_len()]
    }

    pub fn frame_mut(&mut self, index: usize) -> &mut [u8] {
        let len = self.frame_len();
        &mut self.pixels[index * len..(index + 1) * len]
    }

    /// Frames `[start, end)` as a new clip.
    pub fn slice(&self, start: usize, end: usize) -> Result<Self> {
        if start >= end || end > self.frames {
            return Err(DataError::Clip(format!("frames {start}..{end} of a {}-frame clip", self.frames)));
        }
        let len = self.frame_len();
        Self::with_channels(end - start, self.height, self.width, self.channels, self.pixels[start * len..end * len].to_vec())
    }

    /// The same frames in reverse order.
    pub fn reversed(&self) -> Self {
        let len = self.frame_len();
        let pixels = self.pixels.chunks(len).rev().flatten().copied().collect();
        Self { frames: self.frames, height: self.height, width: self.width, channels: self.channels, pixels }
    }

    /// Resamples every frame to `height × width` by area averaging (downscale) or nearest pixel
    /// (upscale), and the frame count by nearest index: how real videos become model input.
    pub fn resized(&self, frames: usize, height: usize, width: usize) -> Result<Self> {
        if frames == 0 || height == 0 || width == 0 {
            return Err(DataError::Clip("cannot resize to an empty clip".into()));
        }
        let mut out = Clip::blank(frames, height, width, self.channels);
        for f in 0..frames {
            let source = self.frame((f * self.frames) / frames);
            let target = out.frame_mut(f);
            resize_frame(source, (self.height, self.width), target, (height, width), self.channels);
        }
        Ok(out)
    }

    pub fn to_gif(&self) -> Result<Vec<u8>> {
        let (w, h) = (dimension(self.width)?, dimension(self.height)?);
        let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
        let mut bytes = Vec::new();
        {
            let mut encoder = gif::Encoder::new(&mut bytes, w, h, &palette).map_err(encode_err)?;
            encoder.set_repeat(gif::Repeat::Infinite).map_err(encode_err)?;
            for f in 0..self.frames {
                let mut frame = match self.channels {
                    // RGB frames get their own quantized palette (NeuQuant).
                    3 => gif::Frame::from_rgb_speed(w, h, self.frame(f), 10),
                    _ => gif::Frame { width: w, height: h, buffer: Cow::Borrowed(self.frame(f)), ..Default::default() },
                };
                frame.delay = GIF_DELAY;
                encoder.write_frame(&frame).map_err(encode_err)?;
            }
        }
        Ok(bytes)
    }

    /// Decodes any animated GIF (palette, transparency, partial frames) at its own size to
    /// `channels` channels (1 = luminance, 3 = RGB). At most `max_frames` frames are read so a
    /// hostile file cannot exhaust memory.
    pub fn from_gif(bytes: &[u8], max_frames: usize, channels: usize) -> Result<Self> {
        check_channels(channels)?;
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::RGBA);
        options.set_memory_limit(gif::MemoryLimit::Bytes(std::num::NonZeroU64::new(64 << 20).expect("non-zero")));
        let mut decoder = options.read_info(bytes).map_err(decode_err)?;
        let (width, height) = (decoder.width() as usize, decoder.height() as usize);
        let too_big = |frames: usize| {
            DataError::Clip(format!("{frames} frames of {width}×{height} are over the {MAX_DECODED_BYTES}-byte limit"))
        };
        let frame_len = width * height * channels;
        if frame_len > MAX_DECODED_BYTES {
            return Err(too_big(1));
        }
        let mut screen = vec![0u8; frame_len];
        let mut pixels = Vec::new();
        let mut frames = 0;
        while let Some(frame) = decoder.read_next_frame().map_err(decode_err)? {
            if frames == max_frames {
                return Err(DataError::Clip(format!("the GIF has more than {max_frames} frames")));
            }
            if (frames + 1) * frame_len > MAX_DECODED_BYTES {
                return Err(too_big(frames + 1));
            }
            paste_rgba(frame, &mut screen, (width, height), channels);
            pixels.extend_from_slice(&screen);
            frames += 1;
        }
        Self::with_channels(frames, height, width, channels, pixels)
    }

    pub fn frame_to_png(&self, index: usize) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        {
            let mut encoder =
                png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
            encoder.set_color(if self.channels == 3 { png::ColorType::Rgb } else { png::ColorType::Grayscale });
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(encode_err)?;
            writer.write_image_data(self.frame(index)).map_err(encode_err)?;
        }
        Ok(bytes)
    }

    /// Frames from PNG files (any colour type, 8-bit), all of one size, as `channels` channels.
    pub fn from_pngs(files: &[Vec<u8>], channels: usize) -> Result<Self> {
        let mut pixels = Vec::new();
        let mut size = None;
        for bytes in files {
            let (w, h, rgb) = decode_png_rgb(bytes)?;
            if pixels.len() + w * h * channels > MAX_DECODED_BYTES {
                return Err(DataError::Clip(format!("the PNG frames are over the {MAX_DECODED_BYTES}-byte limit")));
            }
            let frame = Self::with_channels(1, h, w, 3, rgb)?.to_channels(channels)?;
            if *size.get_or_insert((w, h)) != (w, h) {
                return Err(DataError::Clip("PNG frames differ in size".into()));
            }
            pixels.extend_from_slice(&frame.pixels);
        }
        let (width, height) = size.ok_or_else(|| DataError::Clip("no PNG frames".into()))?;
        Self::with_channels(files.len(), height, width, channels, pixels)
    }

    /// Reads a clip with `channels` channels from a `.gif` file or a folder of `.png` frames
    /// (sorted by name).
    pub fn read(path: &Path, max_frames: usize, channels: usize) -> Result<Self> {
        if path.is_dir() {
            let mut names: Vec<_> = std::fs::read_dir(path)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
                .collect();
            names.sort();
            if names.len() > max_frames {
                return Err(DataError::Clip(format!("more than {max_frames} PNG frames")));
            }
            let files = names.iter().map(std::fs::read).collect::<std::io::Result<Vec<_>>>()?;
            return Self::from_pngs(&files, channels);
        }
        Self::from_gif(&std::fs::read(path)?, max_frames, channels)
    }

    /// Writes `clip.gif` and `frame_000.png`… into `dir`.
    pub fn write_gif_and_pngs(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("clip.gif"), self.to_gif()?)?;
        for f in 0..self.frames {
            std::fs::write(dir.join(format!("frame_{f:03}.png")), self.frame_to_png(f)?)?;
        }
        Ok(())
    }
}

fn check_channels(channels: usize) -> Result<()> {
    if channels != 1 && channels != 3 {
        return Err(DataError::Clip(format!("{channels} channels; clips are grayscale (1) or RGB (3)")));
    }
    Ok(())
}

fn dimension(value: usize) -> Result<u16> {
    u16::try_from(value).map_err(|_| DataError::Clip(format!("{value} px is too large for a GIF")))
}

fn encode_err(e: impl std::fmt::Display) -> DataError {
    DataError::Decode(format!("encoding failed: {e}"))
}

fn decode_err(e: impl std::fmt::Display) -> DataError {
    DataError::Decode(e.to_string())
}

/// ITU-R BT.601 luma, the usual grayscale of video.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((299 * r as u32 + 587 * g as u32 + 114 * b as u32 + 500) / 1000) as u8
}

fn paste_rgba(frame: &gif::Frame<'_>, screen: &mut [u8], (width, height): (usize, usize), channels: usize) {
    let (left, top) = (frame.left as usize, frame.top as usize);
    let (fw, fh) = (frame.width as usize, frame.height as usize);
    for y in 0..fh {
        for x in 0..fw {
            let (sx, sy) = (left + x, top + y);
            let at = (y * fw + x) * 4;
            let Some(px) = frame.buffer.get(at..at + 4) else { return };
            if sx < width && sy < height && px[3] > 0 {
                let at = (sy * width + sx) * channels;
                match channels {
                    3 => screen[at..at + 3].copy_from_slice(&px[..3]),
                    _ => screen[at] = luma(px[0], px[1], px[2]),
                }
            }
        }
    }
}

/// Deflate expands at most 1 032:1 and a 1-bit pixel becomes at most 4 bytes (RGBA8): a PNG that
/// declares more pixels than its bytes can hold is refused before its buffer is allocated, so a
/// few hundred bytes cannot make the reader zero out megabytes.
const MAX_PNG_EXPANSION: usize = 1032 * 32;

fn decode_png_rgb(bytes: &[u8]) -> Result<(usize, usize, Vec<u8>)> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(decode_err)?;
    // The header's size is checked before the buffer exists: a 64 521 × 63 496 PNG of a few
    // hundred bytes once asked for 38 GB here (found by the `png` fuzz target).
    let size = reader.output_buffer_size().filter(|&n| n <= MAX_DECODED_BYTES).ok_or_else(|| {
        let (w, h) = reader.info().size();
        DataError::Clip(format!("a {w}×{h} PNG frame is over the {MAX_DECODED_BYTES}-byte limit"))
    })?;
    if size > bytes.len().saturating_mul(MAX_PNG_EXPANSION) {
        let (w, h) = reader.info().size();
        return Err(DataError::Clip(format!("a {w}×{h} PNG frame cannot be stored in {} bytes", bytes.len())));
    }
    let mut buffer = vec![0; size];
    let info = reader.next_frame(&mut buffer).map_err(decode_err)?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let rgb = buffer[..info.buffer_size()]
        .chunks_exact(info.line_size)
        .flat_map(|row| row[..w * channels].chunks_exact(channels))
        .flat_map(|px| match channels {
            1 | 2 => [px[0]; 3],
            _ => [px[0], px[1], px[2]],
        })
        .collect();
    Ok((w, h, rgb))
}

/// Area-average when shrinking, nearest when growing (both exact at equal size), per channel.
fn resize_frame(src: &[u8], (sh, sw): (usize, usize), dst: &mut [u8], (dh, dw): (usize, usize), channels: usize) {
    for y in 0..dh {
        let (y0, y1) = (y * sh / dh, ((y + 1) * sh).div_ceil(dh).max(y * sh / dh + 1));
        for x in 0..dw {
            let (x0, x1) = (x * sw / dw, ((x + 1) * sw).div_ceil(dw).max(x * sw / dw + 1));
            let count = ((y1.min(sh) - y0) * (x1.min(sw) - x0)) as u32;
            for c in 0..channels {
                let mut sum = 0u32;
                for yy in y0..y1.min(sh) {
                    for xx in x0..x1.min(sw) {
                        sum += src[(yy * sw + xx) * channels + c] as u32;
                    }
                }
                dst[(y * dw + x) * channels + c] = ((sum + count / 2) / count) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient_clip() -> Clip {
        let pixels = (0..3 * 5 * 7).map(|i| (i * 7 % 256) as u8).collect();
        Clip::new(3, 5, 7, pixels).unwrap()
    }

    #[test]
    fn gif_round_trip_is_lossless_for_grayscale() {
        let clip = gradient_clip();
        let back = Clip::from_gif(&clip.to_gif().unwrap(), 100, 1).unwrap();
        assert_eq!(back, clip);
    }

    #[test]
    fn png_round_trip_is_lossless() {
        let clip = gradient_clip();
        let files: Vec<_> = (0..clip.frames).map(|f| clip.frame_to_png(f).unwrap()).collect();
        assert_eq!(Clip::from_pngs(&files, 1).unwrap(), clip);
    }

    #[test]
    fn gif_frame_limit_is_enforced() {
        let gif = gradient_clip().to_gif().unwrap();
        assert!(matches!(Clip::from_gif(&gif, 2, 1), Err(DataError::Clip(_))));
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(Clip::from_gif(b"GIF89a\x01", 10, 1), Err(DataError::Decode(_))));
        assert!(Clip::from_pngs(&[b"\x89PNG nope".to_vec()], 1).is_err());
    }

    /// CRC-32 (PNG's chunk checksum), bitwise: only for building test files.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn a_png_declaring_a_huge_frame_is_refused_before_allocating() {
        // What the png fuzz target found (crate/fuzz/regressions/png/, where the fuzzing build
        // skips CRCs): a small PNG whose header says 64 521 × 63 496, i.e. a 4 GB buffer.
        let mut png = Clip::black(1, 8, 8).frame_to_png(0).unwrap();
        png[16..24].copy_from_slice(&[0, 0, 0xfc, 0x09, 0, 0, 0xf8, 0x08]);
        let crc = crc32(&png[12..29]); // IHDR type + data
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = Clip::from_pngs(&[png], 1).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }

    #[test]
    fn a_png_declaring_more_pixels_than_its_bytes_can_hold_is_refused() {
        // 4 000 × 4 000 is under the decode limit, but not from ~100 bytes of deflate.
        let mut png = Clip::black(1, 8, 8).frame_to_png(0).unwrap();
        png[16..24].copy_from_slice(&[0, 0, 0x0f, 0xa0, 0, 0, 0x0f, 0xa0]);
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = Clip::from_pngs(&[png], 1).unwrap_err();
        assert!(err.to_string().contains("cannot be stored"), "{err}");
    }

    #[test]
    fn a_gif_declaring_a_huge_screen_is_refused_before_allocating() {
        let mut gif = Clip::black(1, 8, 8).to_gif().unwrap();
        gif[6..10].copy_from_slice(&[0xff; 4]); // logical screen 65 535 × 65 535: 4 GiB of pixels
        let err = Clip::from_gif(&gif, 10, 1).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }

    fn rgb_clip() -> Clip {
        let pixels = (0..2 * 4 * 6 * 3).map(|i| (i * 37 % 256) as u8).collect();
        Clip::with_channels(2, 4, 6, 3, pixels).unwrap()
    }

    #[test]
    fn rgb_png_round_trip_is_lossless_and_gray_readers_take_luminance() {
        let clip = rgb_clip();
        let files: Vec<_> = (0..clip.frames).map(|f| clip.frame_to_png(f).unwrap()).collect();
        assert_eq!(Clip::from_pngs(&files, 3).unwrap(), clip);
        assert_eq!(Clip::from_pngs(&files, 1).unwrap(), clip.to_channels(1).unwrap());
    }

    #[test]
    fn rgb_gif_round_trip_keeps_colours_close() {
        let clip = rgb_clip();
        let back = Clip::from_gif(&clip.to_gif().unwrap(), 10, 3).unwrap();
        assert_eq!((back.frames, back.height, back.width, back.channels), (2, 4, 6, 3));
        // A 48-colour clip fits a 256-colour palette; NeuQuant may still move a colour a little.
        let worst = back.pixels.iter().zip(&clip.pixels).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(worst <= 8, "worst colour error {worst}");
    }

    #[test]
    fn channel_conversions() {
        let gray = Clip::new(1, 1, 2, vec![10, 200]).unwrap();
        let rgb = gray.to_channels(3).unwrap();
        assert_eq!(rgb.pixels, vec![10, 10, 10, 200, 200, 200]);
        assert_eq!(rgb.to_channels(1).unwrap(), gray);
        let red = Clip::with_channels(1, 1, 1, 3, vec![255, 0, 0]).unwrap();
        assert_eq!(red.to_channels(1).unwrap().pixels, vec![76]); // BT.601: 0.299 · 255
        assert!(Clip::with_channels(1, 1, 1, 2, vec![0, 0]).is_err());
        assert!(matches!(gray.as_channels(1).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn rgb_resize_averages_each_channel() {
        let clip = Clip::with_channels(1, 1, 2, 3, vec![0, 100, 200, 100, 200, 0]).unwrap();
        assert_eq!(clip.resized(1, 1, 1).unwrap().pixels, vec![50, 150, 100]);
    }

    #[test]
    fn resize_averages_blocks() {
        let clip = Clip::new(1, 2, 2, vec![0, 100, 200, 100]).unwrap();
        assert_eq!(clip.resized(1, 1, 1).unwrap().pixels, vec![100]);
        assert_eq!(clip.resized(1, 2, 2).unwrap(), clip);
        assert_eq!(clip.resized(2, 4, 4).unwrap().frames, 2);
    }
}
