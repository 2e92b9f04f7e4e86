"""What every design probe shares: the trainer's own modules (data, model, tasks, checkpoint) on
the import path, so a probe measures the product's code rather than a copy of it. Import it first:

    import common  # noqa: F401
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
