#!/usr/bin/env python3
"""cluster-generic-cancel-cmd: `cancel.py <jobid>...` (on Ctrl-C of Snakemake)."""

import sys

from scheduler import cancel

sys.exit(cancel(sys.argv[1:]))
