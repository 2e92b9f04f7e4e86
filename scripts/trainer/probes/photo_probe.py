"""Does `describe` flag real photographs as out of domain? A camera-like clip per photograph and
pan: 20 frames of a window panning across one of scikit-image's sample photographs (people,
animals, objects, text pages, a star field, a retina, textures), in grayscale, written as a GIF
and described by the CLI as a user would (`univid describe`, the browser's int8 pack).

  python3 -m pip install scikit-image   # its sample photographs (and Pillow, to write GIFs)
  python3 scripts/trainer/probes/photo_probe.py [--model models/univid-small-int8] [--pans 6]

Prints, per photograph, how many of its clips were flagged, and the total.
"""
import argparse
import json
import os
import subprocess
import tempfile
import numpy as np
from PIL import Image
import skimage.data
import common  # noqa: F401
from data import default_binary

PHOTOS = ["astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "page", "text",
          "hubble_deep_field", "immunohistochemistry", "retina", "brick", "grass", "gravel", "clock", "colorwheel"]


def gray(image):
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114])
    return image.astype(np.float32)


def pan(image, rng, frames=20):
    """A square window of 40–70 % of the photograph's shorter side, moving in a straight line."""
    h, w = image.shape
    side = int(min(h, w) * rng.uniform(0.4, 0.7))
    start = rng.uniform(0, [h - side, w - side])
    end = rng.uniform(0, [h - side, w - side])
    out = []
    for f in range(frames):
        y, x = (start + (end - start) * f / (frames - 1)).astype(int)
        crop = Image.fromarray(image[y:y + side, x:x + side].clip(0, 255).astype(np.uint8))
        out.append(crop.resize((128, 128), Image.BILINEAR))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="models/univid-small-int8")
    p.add_argument("--pans", type=int, default=6)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    report, flagged, total = {}, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in PHOTOS:
            image = gray(getattr(skimage.data, name)())
            said = []
            for k in range(args.pans):
                path = os.path.join(tmp, f"{name}-{k}.gif")
                frames = pan(image, rng)
                frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
                out = subprocess.run([default_binary(), "describe", "--model", args.model, path],
                                     capture_output=True, text=True, check=True).stdout.splitlines()
                said.append({"caption": out[0], "flagged": "out of domain" in out[1]})
            hits = sum(s["flagged"] for s in said)
            report[name] = {"flagged": f"{hits}/{len(said)}", "captions": sorted({s["caption"] for s in said if not s["flagged"]})}
            flagged, total = flagged + hits, total + len(said)
    print(json.dumps(report | {"flagged": f"{flagged}/{total}", "rate": round(flagged / total, 3)}, indent=1))


if __name__ == "__main__":
    main()
