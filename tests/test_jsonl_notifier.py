"""``JsonLinesNotifier`` never leaves a torn line: a failed write is cut back off, and a
line torn by a crash is cut off before the next batch."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from incident_lifecycle import DeliveryStatus, Notification
from incident_lifecycle.adapters import JsonLinesNotifier


def note(index: int, size: int = 10) -> Notification:
    return Notification(
        key=f"k{index}",
        recipient="team-a",
        recipient_kind="team",
        topic="handoff",
        incident_id=None,
        subject="Handed off",
        body="x" * size,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def keys(path: Path) -> list[str]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), data[-40:]
    return [json.loads(line)["key"] for line in data.splitlines()]


FULL_DISK = """
import json, logging, resource, signal, sys
from datetime import UTC, datetime
from incident_lifecycle import DeliveryStatus, Notification
from incident_lifecycle.adapters import JsonLinesNotifier

logging.basicConfig(level=logging.WARNING, format="%(name)s %(event)s %(message)s")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, write() fails with EFBIG
path = sys.argv[1]

def note(i, size):
    return Notification(key=f"k{i}", recipient="team-a", recipient_kind="team",
                        topic="handoff", incident_id=None, subject="s", body="x" * size,
                        created_at=datetime(2026, 1, 1, tzinfo=UTC))

notifier = JsonLinesNotifier(path)
assert {r.status for r in notifier.send([note(0, 100)])} == {DeliveryStatus.DELIVERED}
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))  # as if the disk filled up
answered = notifier.send([note(1, 1000), note(2, 5000)])  # k1 fits, k2 is cut short
print([r.status.value for r in answered], answered[0].error)
print(open(path, "rb").read().count(b"\\n"), open(path, "rb").read().endswith(b"\\n"))
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # room again
answered = notifier.send([note(1, 1000), note(2, 5000)])
print([r.status.value for r in answered])
"""


def test_a_full_disk_leaves_no_torn_line(tmp_path: Path) -> None:
    """A write that stops part way (a file size limit, as a full disk would) is cut back
    to the last whole line and answered "retry"; once there is room, the batch is
    written whole, once."""
    path = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    failed, lines, retried = done.stdout.splitlines()
    assert failed.startswith("['retry', 'retry'] could not write out.jsonl: File too large")
    assert lines == "1 True"  # only k0, whole
    assert retried == "['delivered', 'delivered']"
    assert keys(path) == ["k0", "k1", "k2"]
    assert "incident_lifecycle.adapters.notifiers jsonl_write_failed" in done.stderr


def test_a_line_torn_by_a_crash_is_cut_off_before_the_next_batch(tmp_path: Path) -> None:
    """A file ending in half a line (a crash mid-write) loses that half, not the lines
    before it, when the next batch is written."""
    path = tmp_path / "out.jsonl"
    notifier = JsonLinesNotifier(path)
    notifier.send([note(0), note(1)])
    with path.open("ab") as handle:
        handle.write(b'{"key": "k2", "body": "half of it')
    answered = notifier.send([note(2), note(3)])
    assert {r.status for r in answered} == {DeliveryStatus.DELIVERED}
    assert keys(path) == ["k0", "k1", "k2", "k3"]


def test_a_file_of_one_torn_line_is_emptied_first(tmp_path: Path) -> None:
    """A torn first line (no newline at all) is cut off entirely."""
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"key": "k0"' + b"x" * 70_000)
    JsonLinesNotifier(path).send([note(1)])
    assert keys(path) == ["k1"]
