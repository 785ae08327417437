#!/usr/bin/env python3
"""cluster-generic-submit-cmd: `submit.py <jobscript>` prints the scheduler's job id."""

import sys

from scheduler import submit

sys.exit(submit(sys.argv[1:]))
