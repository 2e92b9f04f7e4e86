"""What every design probe shares: the trainer's own modules (data, model, tasks, checkpoint) on
the import path, so a probe measures the product's code rather than a copy of it, and one way to
log a curve. Import it first:

    import common
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Log:
    """A probe's curve: each row printed as one JSON line and appended to `path` (if one is given)."""

    def __init__(self, path):
        self.file = open(path, "w") if path else None

    def write(self, row):
        line = json.dumps(row)
        print(line, flush=True)
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()
