"""Malformed status files are skipped with one sentence each, never a traceback."""
from pathlib import Path

import pytest

from pppstack.cli import main


@pytest.mark.parametrize("content", ["[1,2]", '{"counters":"x"}', "{broken", '{"last_end": 3}'])
def test_malformed_status_file_is_a_sentence(tmp_path: Path, content: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ppp0.json").write_text(content)
    main(["status", "--run-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert "skipping" in err and "ppp0.json" in err and "Traceback" not in err
    assert "is running" not in out
