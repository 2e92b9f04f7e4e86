"""Trimming padding out of the packed sequences must not change any loss; data-parallel training
keeps its ranks equal.

  python3 -m unittest scripts/trainer/test_tasks.py   (needs the univid CLI: CARGO_TARGET_DIR)
"""
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import tasks  # noqa: E402
from data import RecordStream, default_binary  # noqa: E402
from readout_probe import load_model  # noqa: E402


def losses_with_seed(loss_fn, *args):
    np.random.seed(1)
    torch.manual_seed(1)
    with torch.no_grad():
        return {k: float(v) for k, v in loss_fn(*args).items()}


class TrimmedPadding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The shipped model: its attention is sharp enough that a dropped word changes the losses.
        torch.manual_seed(0)
        cls.model = load_model(Path(__file__).parents[2] / "models/univid-small")
        stream = RecordStream(default_binary(), "train", "training", seed=3)
        cls.rec = stream.batch(6)
        stream.close()

    def assert_same_losses(self, loss_fn, *args):
        trimmed = losses_with_seed(loss_fn, self.model, self.rec, *args)
        full_width = tasks.text_width
        tasks.text_width = lambda *inputs: inputs[0].shape[1]  # keep every padding column
        try:
            padded = losses_with_seed(loss_fn, self.model, self.rec, *args)
        finally:
            tasks.text_width = full_width
        self.assertEqual(trimmed.keys(), padded.keys())
        for name in trimmed:
            # float32 sums in another order differ by ~1e-7; one word missing moves a loss by ≥ 1e-5
            self.assertLess(abs(trimmed[name] - padded[name]), 1e-6 * max(1.0, abs(padded[name])), name)

    def test_text_is_padded_in_the_records(self):
        # Otherwise the comparisons below would compare a layout with itself.
        inputs, _ = tasks.text_inputs(self.rec["caption"])
        self.assertLess(tasks.text_width(inputs), inputs.shape[1])

    def test_understanding_losses_do_not_depend_on_padding(self):
        self.assert_same_losses(tasks.understand_loss, 7)

    def test_generation_loss_does_not_depend_on_padding(self):
        self.assert_same_losses(tasks.generate_loss)


class PositionTargets(unittest.TestCase):
    def test_each_token_is_asked_for_the_position_it_was_embedded_at(self):
        model = load_model(Path(__file__).parents[2] / "models/univid-small")
        _, _, gw = model.cfg.grid
        cell, slot = tasks.position_targets(model.cfg)
        with torch.no_grad():
            embedded = model.pos_t[slot] + model.pos_h[cell // gw] + model.pos_w[cell % gw]
            torch.testing.assert_close(embedded, model.video_pos())


class FlowTimes(unittest.TestCase):
    def tearDown(self):
        tasks.PURE_NOISE_FRACTION = 0.0

    def test_pure_noise_fraction_of_clips_start_where_the_sampler_starts(self):
        generator = torch.Generator().manual_seed(0)
        self.assertEqual(int((tasks.sample_t((10000,), generator) == 1.0).sum()), 0)
        tasks.PURE_NOISE_FRACTION = 0.25
        t = tasks.sample_t((10000,), generator)
        self.assertAlmostEqual(float((t == 1.0).float().mean()), 0.25, delta=0.02)
        self.assertTrue(bool(((t > 0) & (t <= 1)).all()))

class DataParallel(unittest.TestCase):
    def test_two_ranks_on_the_cpu_keep_equal_weights(self):
        """torchrun with 2 processes (gloo): each rank reads other clips, so without the gradient
        averaging their weights part after the first step, and the save at step 3 checks they
        did not (train.check_ranks_agree raises)."""
        trainer = Path(__file__).parent / "train.py"
        with tempfile.TemporaryDirectory() as tmp:
            run = subprocess.run(
                [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(trainer),
                 "--config", "tiny", "--steps", "3", "--save-every", "3", "--batch", "2", "--questions", "1",
                 "--threads", "1", "--runs", f"{tmp}/runs", "--models", f"{tmp}/models", "--name", "ddp", "--binary", default_binary()],
                capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
            self.assertEqual(run.returncode, 0, run.stderr[-3000:])
            self.assertIn("2 ranks", run.stdout)
            self.assertTrue((Path(tmp) / "models" / "ddp" / "model.safetensors").exists(), "rank 0 saved")



if __name__ == "__main__":
    unittest.main()

