"""The allocator setting for replication processes: freed arrays' pages are reused, not faulted in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import resource, sys
import numpy as np
if sys.argv[1] == "on":
    from sim.kernels.allocator import keep_large_allocations_on_heap
    keep_large_allocations_on_heap()
def faults_of_one_array():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones(6_000_000)  # 48 MB, written once: every page touched
    del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults_of_one_array()  # the first one pays its pages either way
print(min(faults_of_one_array() for _ in range(5)))
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_freed_array_is_reused_without_page_faults():
    """Without the setting an array above glibc's largest mmap threshold (32 MiB) comes
    from fresh mmap pages every time (one fault per 4 KiB page, or per 2 MiB huge page);
    with it, from the heap pages the previous one left."""
    assert _faults("off") > 20
    assert _faults("on") <= 5
