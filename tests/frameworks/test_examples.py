"""The runnable examples run, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_minimal_shop_self_check_passes(tmp_path):
    inbox = f"sqlite:///{tmp_path}/shop.sqlite3"
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "minimal_shop.py"),
            "--check",
            "--port",
            "0",
            "--inbox",
            inbox,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "signed notify -> 200 'success'; order A1001 paid: True" in result.stdout
    assert "forged notify -> 403 'fail'; order A1001 paid: False" in result.stdout
    assert "reason=bad_signature" in result.stderr
    assert "same notify again -> 200 'success'" in result.stdout
    assert (tmp_path / "shop.sqlite3").exists()
