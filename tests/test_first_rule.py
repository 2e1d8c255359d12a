"""docs/rules.md "Your first rule, step by step", followed as written: its file blocks are written into a
copy of the rulebook, and its commands succeed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from mdrcds.cli import main

GUIDE = (ROOT / "docs" / "rules.md").read_text()
SECTION = GUIDE.split("## Your first rule, step by step", 1)[1].split("\n## ", 1)[0]
BLOCK = re.compile(r"```yaml\n# file: (\S+)( \(append\))?\n(.*?)```", re.DOTALL)
COMMANDS = re.compile(r"```console\n(.*?)```", re.DOTALL)


def test_the_first_rule_guide_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    blocks = BLOCK.findall(SECTION)
    assert {path for path, _, _ in blocks} >= {
        "my-rules/valuesets/example-calcium-channel-blocker.yaml",
        "my-rules/citations.yaml",
        "my-rules/rules/example-calcium-channel-blocker-with-nivolumab.yaml",
        "my-rules/example-case.yaml",
    }
    commands = [
        line.strip() for block in COMMANDS.findall(SECTION) for line in block.splitlines() if line.strip()
    ]
    assert commands[0] == "cp -r rules my-rules"
    shutil.copytree(tmp_path / "rules", tmp_path / "my-rules")
    for path, append, text in blocks:
        target = tmp_path / path
        if append:
            target.write_text(target.read_text() + "\n" + text)
        else:
            target.write_text(text)
    assert main(["rules", "check", "--rules", "my-rules"]) == 0, capsys.readouterr().err
    assert "18 rules OK" in capsys.readouterr().out
    assert main(["test", "my-rules/example-case.yaml", "--rules", "my-rules"]) == 0, capsys.readouterr().out
    assert "1 cases passed, 0 failed" in capsys.readouterr().out
    # the guide's commands are the ones run here
    assert "mdrcds rules check --rules my-rules" in commands
    assert "mdrcds test my-rules/example-case.yaml --rules my-rules" in commands


def test_a_guide_rule_with_wording_beyond_its_evidence_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guide's claim that the linter holds preclinical rules to 'info' is true."""
    shutil.copytree(ROOT / "rules", tmp_path / "my-rules")
    for path, append, text in BLOCK.findall(SECTION):
        target = tmp_path / path
        target.write_text(
            (target.read_text() + "\n" if append else "")
            + text.replace("indicator: info", "indicator: warning")
        )
    assert main(["rules", "check", "--rules", str(tmp_path / "my-rules")]) == 1
    assert "example-calcium-channel-blocker-with-nivolumab" in capsys.readouterr().err
