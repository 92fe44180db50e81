"""What Linux's /proc says about the run's processes: listening sockets and CPU time."""

from __future__ import annotations

import os
import resource
from pathlib import Path

LISTEN_STATE = "0A"  # TCP_LISTEN in /proc/net/tcp


def listening_sockets(port: int) -> int | None:
    """How many sockets listen on `port` (one per reuse-port process); None without /proc."""
    count, seen = 0, False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        seen = True
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == LISTEN_STATE and int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count if seen else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a running process has used so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # Fields 14 and 15 of stat(5) (utime, stime); the split above drops the first two.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def waited_children_cpu() -> float:
    """CPU time of the children waited for so far (here: Locust, the first to end)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
