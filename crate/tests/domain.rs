//! Say only what is seen, with the shipped browser pack: blank clips of any size are "no digits",
//! noise and camera views are flagged out of domain, real clips are not (enlarged ones neither),
//! every caption is a sentence of the grammar, and where a digit starts or ends up is read right.

use burn::tensor::Device;
use univid::data::{Clip, Digits, Grammar, Place, Split, World, WorldConfig, NO_DIGITS};
use univid::model::UniVid;
use univid::pack::{read_dir, Group};
use univid::pipelines::{Appearance, DecodeOptions, Description, End};
use univid::tools::eval::smoothly_enlarged;
use univid::tools::eval::unfamiliar::{self, Kind};

fn shipped() -> UniVid {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut loader = read_dir(&root.join("models/univid-small-int8")).expect("make the pack with scripts/pack-shipped");
    let config = loader.manifest().model.clone();
    UniVid::load(config, &loader.take(&Group::ALL).unwrap(), &Device::flex()).unwrap()
}

fn describe(model: &UniVid, clip: &Clip) -> Description {
    let clip = clip.resized(model.config.frames, model.config.size, model.config.size).unwrap();
    let said = pollster::block_on(model.describe(&clip, DecodeOptions::default())).unwrap();
    assert!(Grammar::Caption.accepts(&said.text), "\"{}\" is not a caption", said.text);
    said
}

#[test]
fn only_what_is_seen() {
    let model = shipped();
    // Blank: "no digits" at any size; a black screen is the world's own, a grey or white one not.
    for (frames, h, w) in [(1, 3, 3), (20, 64, 640), (1, 4096, 4096)] {
        for grey in [0u8, 128, 255] {
            let said = describe(&model, &Clip::new(frames, h, w, vec![grey; frames * h * w]).unwrap());
            assert_eq!(said.text, NO_DIGITS, "{frames}×{h}×{w} of {grey}");
            assert_eq!(said.out_of_domain, grey != 0, "{frames}×{h}×{w} of {grey}: flagged");
        }
    }
    // Noise and camera views: flagged (the bar, 95 %, on 20 of each kind).
    for kind in [Kind::UniformNoise, Kind::GreyNoise, Kind::Specks, Kind::CameraPan, Kind::DarkCameraPan] {
        let flagged = (0..20).filter(|&i| {
            let clip = unfamiliar::clip(kind, 7, i, 20, 64);
            let said = describe(&model, &clip);
            if !said.out_of_domain {
                eprintln!("{kind:?} {i} not flagged: {said:?} {:?}", Appearance::of(&clip));
            }
            said.out_of_domain
        }).count();
        assert!(flagged >= 19, "{kind:?}: {flagged} of 20 flagged");
    }
    // Real test clips: at most 2 % flagged; where digits start and end up, read by the locate head.
    let world = World::new(WorldConfig::standard(), Digits::locate().unwrap()).unwrap();
    let (mut flagged, mut places, mut right) = (0, 0, 0);
    for index in 0..50 {
        let (clip, truth) = world.clip(Split::Test, 7, index);
        flagged += describe(&model, &clip).out_of_domain as usize;
        if index < 10 {
            for digit in &truth.digits {
                for (end, place) in [(End::Start, digit.start), (End::Finish, digit.end)] {
                    let read: Option<Place> = pollster::block_on(model.digit_place(&clip, digit.digit, end)).unwrap();
                    right += (read == Some(place)) as usize;
                    places += 1;
                }
            }
        }
    }
    assert!(flagged <= 1, "{flagged} of 50 real clips flagged out of domain");
    // The same world enlarged by a video player (smoothed edges: mostly mid-tones) is still its own.
    let enlarged = (0..20).filter(|&i| describe(&model, &smoothly_enlarged(&world.clip(Split::Test, 8, i).0, 200)).out_of_domain).count();
    assert!(enlarged <= 1, "{enlarged} of 20 enlarged real clips flagged out of domain");
    assert!(right * 10 >= places * 8, "{right} of {places} start/end places right");
}
