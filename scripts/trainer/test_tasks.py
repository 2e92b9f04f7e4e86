"""Trimming padding out of the packed sequences must not change any loss; the trainer takes its
words from the record stream; data-parallel training keeps its ranks equal; the slot head's
trainer runs and the shipped head continues clips.

  python3 -m unittest scripts/trainer/test_tasks.py   (needs the univid CLI: CARGO_TARGET_DIR)
"""
import json
import os
import stat
import struct
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import tasks  # noqa: E402
from checkpoint import load_model  # noqa: E402
from data import MAGIC, RecordStream, default_binary, vocabulary_of  # noqa: E402


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
        cls.recipe = tasks.Recipe(stream.vocabulary)
        stream.close()

    def assert_same_losses(self, loss_fn, *args):
        trimmed = losses_with_seed(loss_fn, self.model, self.rec, self.recipe, *args)
        full_width = tasks.text_width
        tasks.text_width = lambda pad, *inputs: inputs[0].shape[1]  # keep every padding column
        try:
            padded = losses_with_seed(loss_fn, self.model, self.rec, self.recipe, *args)
        finally:
            tasks.text_width = full_width
        self.assertEqual(trimmed.keys(), padded.keys())
        for name in trimmed:
            # float32 sums in another order differ by ~1e-7; one word missing moves a loss by ≥ 1e-5
            self.assertLess(abs(trimmed[name] - padded[name]), 1e-6 * max(1.0, abs(padded[name])), name)

    def test_text_is_padded_in_the_records(self):
        # Otherwise the comparisons below would compare a layout with itself.
        inputs, _ = tasks.text_inputs(self.rec["caption"], self.recipe.vocab)
        self.assertLess(tasks.text_width(self.recipe.vocab.pad, inputs), inputs.shape[1])

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
    def test_pure_noise_fraction_of_clips_start_where_the_sampler_starts(self):
        generator = torch.Generator().manual_seed(0)
        vocab = vocabulary_of(default_binary())
        self.assertEqual(int((tasks.sample_t((10000,), tasks.Recipe(vocab), generator) == 1.0).sum()), 0)
        t = tasks.sample_t((10000,), tasks.Recipe(vocab, pure_noise=0.25), generator)
        self.assertAlmostEqual(float((t == 1.0).float().mean()), 0.25, delta=0.02)
        self.assertTrue(bool(((t > 0) & (t <= 1)).all()))

def stream_with_vocabulary(path, words, ids, records):
    """A record stream file whose header lists `words` and whose text tokens are renumbered by
    `ids` (old id -> new id), and a stand-in `univid` that writes it, whatever it is asked."""
    layout = dict(records.layout, vocabulary=words)
    recoded = records.rec.copy()
    recoded["caption"] = ids[recoded["caption"]]
    recoded["qa"] = ids[recoded["qa"]]
    header = json.dumps(layout).encode()
    with open(path + ".bin", "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(header)) + header + recoded.tobytes())
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nexec cat '{path}.bin'\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


class WorldVocabulary(unittest.TestCase):
    """The world's words come from the record stream's header: renumbered and with one more word,
    the trainer reads the same texts and sizes the model to the new vocabulary, no Python edited."""

    @classmethod
    def setUpClass(cls):
        stream = RecordStream(default_binary(), "train", "training", seed=3)
        cls.vocab = stream.vocabulary
        cls.rec = stream.batch(16)
        cls.layout = stream.layout
        stream.close()
        # reverse every id and add a word: <pad>, <eos>, "while" and "," all move
        n = len(cls.vocab)
        cls.ids = np.arange(n)[::-1].astype(np.uint16)
        words = [None] * n
        for old, new in enumerate(cls.ids):
            words[new] = cls.vocab.words[old]
        cls.words = words + ["slowly"]
        cls.tmp = tempfile.TemporaryDirectory()
        batch = type("Records", (), {"layout": cls.layout, "rec": cls.rec})
        cls.binary = stream_with_vocabulary(os.path.join(cls.tmp.name, "univid"), cls.words, cls.ids, batch)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def renumbered(self):
        stream = RecordStream(self.binary, "train", "training", seed=3)
        rec, vocab = stream.batch(16), stream.vocabulary
        stream.close()
        return rec, vocab

    def test_texts_read_the_same_under_another_numbering(self):
        rec, vocab = self.renumbered()
        self.assertEqual((vocab.pad, len(vocab)), (int(self.ids[self.vocab.pad]), len(self.vocab) + 1))
        for theirs, ours in ((rec, vocab), (self.rec, self.vocab)):
            np.random.seed(5)
            captions, _ = tasks.text_inputs(theirs["caption"], ours)
            queries, matches = tasks.retrieval_queries(theirs, captions, ours)
            said = ([ours.text(p) for p in tasks.prompts(theirs, ours).tolist()],
                    [ours.text(q) for q in queries.tolist()], matches.tolist())
            if ours is vocab:
                renumbered = said
        self.assertEqual(renumbered, said)
        self.assertTrue(any(" while " in p for p in said[0]) and not any("<eos>" in p for p in said[0]))
        self.assertTrue(any(q.count("digit") == 1 and q.endswith("<eos>") for q in said[1]), "a one-clause query")

    def test_a_new_run_has_one_embedding_per_word(self):
        trainer = Path(__file__).parent / "train.py"
        with tempfile.TemporaryDirectory() as tmp:
            run = subprocess.run(
                [sys.executable, str(trainer), "--config", "tiny", "--steps", "1", "--save-every", "1", "--batch", "2",
                 "--questions", "1", "--threads", "1", "--runs", f"{tmp}/runs", "--models", f"{tmp}/models",
                 "--name", "words", "--binary", self.binary],
                capture_output=True, text=True, timeout=300)
            self.assertEqual(run.returncode, 0, run.stderr[-3000:])
            with open(Path(tmp) / "models" / "words" / "config.json") as f:
                self.assertEqual(json.load(f)["model"]["vocab"], len(self.words))


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
            folder = Path(tmp) / "models" / "ddp"
            self.assertTrue((folder / "model.safetensors").exists(), "rank 0 saved")
            # The locate head ships beside the weights (the runtime answers where digits are with
            # it) and the twin loads it back.
            from safetensors.torch import load_file
            shipped = load_file(folder / "locate.safetensors")["locate.weight"]
            self.assertTrue(torch.equal(load_model(folder).aux_locate.weight, shipped))


def train_head_in_copy(trainer, tmp, *flags):
    """Runs a head trainer (briefly) on a model folder in `tmp`: the shipped config, its trunk linked."""
    folder = Path(__file__).parents[2] / "models/univid-small"
    (Path(tmp) / "config.json").write_text((folder / "config.json").read_text())
    os.symlink(folder / "model.safetensors", Path(tmp) / "model.safetensors")
    return subprocess.run([sys.executable, str(Path(__file__).parent / trainer), "--model", tmp, *flags, "--threads", "1",
                           "--binary", default_binary()], capture_output=True, text=True, timeout=300)


class SlotHead(unittest.TestCase):
    def test_the_shipped_head_continues_far_better_than_black(self):
        """The committed slot head through the twin (the runtime's numbers are `univid eval`'s)."""
        import slots
        folder = Path(__file__).parents[2] / "models/univid-small"
        net = load_model(folder)
        head = slots.load_head(folder, slots.ModelConfig(**json.loads((folder / "config.json").read_text())["model"]))
        stream = RecordStream(default_binary(), "test", "benchmark", seed=0)
        video = tasks.to_video(stream.batch(8)["pixels"])
        stream.close()
        with torch.no_grad():
            frames, _ = head.predict(net, video[:, :10])
        truth = (video[:, 10:] + 1) / 2
        self.assertLess(float(((frames - truth) ** 2).sum()), 0.5 * float((truth ** 2).sum()))

    def test_the_trainer_writes_a_head_the_twin_loads(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = train_head_in_copy("slots.py", tmp, "--trajectories", "1000", "--dynamics-steps", "3", "--locator-clips", "32")
            self.assertEqual(run.returncode, 0, run.stderr[-3000:])
            self.assertIn('"stage": "locator"', run.stdout)
            self.assertEqual(json.loads((Path(tmp) / "config.json").read_text())["model"]["slots"], 2)
            import slots
            head = slots.load_head(tmp, slots.ModelConfig(**json.loads((Path(tmp) / "config.json").read_text())["model"]))
            self.assertEqual(head.queries.shape, (2, 256))

    def test_the_shipped_text_head_draws_the_digits_it_is_asked_for(self):
        """One-digit prompts through the twin; the judge's classifier reads each slot's glyph."""
        import text_slots
        from judge import DigitNet
        from safetensors.torch import load_file
        folder = Path(__file__).parents[2] / "models/univid-small"
        net = load_model(folder)
        head, _ = text_slots.load_head(folder, text_slots.ModelConfig(**json.loads((folder / "config.json").read_text())["model"]))
        reader = DigitNet()
        reader.load_state_dict(load_file(folder.parent / "judge" / "classifier.safetensors"))
        reader.eval()
        words = vocabulary_of(default_binary())
        right = 0
        for digit in range(10):
            prompt = torch.tensor([words.words.index(w) for w in f"digit {digit} moves left".split()])
            g = torch.Generator().manual_seed(digit)
            frames, parts = head.generate(net, prompt, 10, 2.0, torch.randn(2, 28, 28, generator=g), torch.zeros(2, 2))
            self.assertGreater(float(parts["present"][0]), 0, "the clause's slot is there")
            self.assertLess(float(parts["present"][1]), 0, "a one-digit prompt leaves the second slot empty")
            right += int(reader(parts["glyph"][:1, None]).argmax(1)) == digit
        self.assertGreaterEqual(right, 8, f"{right} of 10 glyphs read as the asked digit")

    def test_the_text_trainer_writes_a_head_the_twin_loads(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = train_head_in_copy("text_slots.py", tmp, "--glyph-steps", "2", "--trajectories", "1000", "--path-steps", "2",
                                     "--prompt-clips", "32")
            self.assertEqual(run.returncode, 0, run.stderr[-3000:])
            self.assertIn('"stage": "reader"', run.stdout)
            import text_slots
            head, embed = text_slots.load_head(tmp, text_slots.ModelConfig(**json.loads((Path(tmp) / "config.json").read_text())["model"]))
            self.assertTrue(torch.equal(head.null.data, embed.weight[10].data.half().float()), "guidance's null is the no-digit row")


if __name__ == "__main__":
    unittest.main()

