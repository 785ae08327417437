#!/usr/bin/env python3
"""cluster-generic-status-cmd: `status.py <jobid>` prints running, success or failed."""

import sys

from scheduler import status

print(status(sys.argv[1]))
