"""Reads the record stream that `univid data --stream` writes (crate/src/data/records.rs).

The world (digits, motion, captions, questions) is defined once, in Rust; this file only parses
fixed-size records into numpy arrays."""
import json
import os
import struct
import subprocess
import numpy as np

MAGIC = b"UVREC003"


class RecordStream:
    """Endless batches of clips from `univid data --stream`, starting at clip index `start`."""

    def __init__(self, binary, split, world, seed, start=0):
        self.position = start
        cmd = [binary, "data", "--stream", "--split", split, "--world", world,
               "--seed", str(seed), "--start", str(start), "--n", "0"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, bufsize=1 << 20)
        self.layout = read_header(self.proc.stdout)
        self.vocabulary = Vocabulary(self.layout["vocabulary"])

    def batch(self, n):
        raw = self.proc.stdout.read(n * self.layout["record_bytes"])
        if len(raw) != n * self.layout["record_bytes"]:
            raise RuntimeError("the record stream ended early: is the univid binary working?")
        self.position += n
        return parse_records(raw, self.layout)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class Vocabulary:
    """The world's words, in id order, as the stream's header lists them: the trainer takes every
    token id it needs from here, so a changed word in crate/src/data/language.rs needs no edit."""

    def __init__(self, words):
        self.words = list(words)
        ids = {word: i for i, word in enumerate(self.words)}
        self.pad, self.bos, self.eos = ids["<pad>"], ids["<bos>"], ids["<eos>"]
        self.clause_breaks = (ids["while"], ids[","])  # what joins a caption's clauses

    def __len__(self):
        return len(self.words)

    def text(self, ids):
        """Token ids -> the words they stand for, padding left out."""
        return " ".join(self.words[i] for i in ids if i != self.pad)


def vocabulary_of(binary):
    """The world's vocabulary, from the header of a stream opened only for it."""
    stream = RecordStream(binary, "train", "training", seed=0)
    stream.close()
    return stream.vocabulary


def read_header(f):
    magic = f.read(8)
    if magic != MAGIC:
        raise RuntimeError(f"not a UniVid record stream (magic {magic!r}); rebuild the univid CLI")
    (length,) = struct.unpack("<I", f.read(4))
    return json.loads(f.read(length))


def parse_records(raw, layout):
    frames, size, text_len, slots = layout["frames"], layout["size"], layout["text_len"], layout["slots"]
    questions = layout["questions"]
    pixel_bytes = frames * size * size
    dtype = np.dtype([
        ("pixels", np.uint8, (frames, size, size)),
        ("count", np.uint8),
        ("digits", np.uint8, (slots,)),
        ("motions", np.uint8, (slots,)),
        ("starts", np.uint8, (slots,)),
        ("ends", np.uint8, (slots,)),
        ("qa_kind", np.uint8, (questions,)),  # one question of each kind, in a random order
        ("answer_at", np.uint8, (questions,)),
        ("caption", "<u2", (text_len,)),
        ("qa", "<u2", (questions, text_len)),
        ("corners", np.uint8, (frames, slots, 2)),  # top-left (x, y) per frame and slot
    ])
    assert dtype.itemsize == layout["record_bytes"], "record layout changed: update data.py"
    assert pixel_bytes + 1 + 4 * slots + 2 * questions + 2 * (1 + questions) * text_len + frames * slots * 2 == dtype.itemsize
    return np.frombuffer(raw, dtype=dtype)


def default_binary():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    return os.path.join(target, "release", "univid")
