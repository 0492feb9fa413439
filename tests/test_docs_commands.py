"""Every `wm ...` command line in README.md and docs/*.md parses, so the docs cannot rot unnoticed.

Collected: lines of indented code blocks that start with `wm ` (a trailing backslash joins the next line, `#`
starts a comment) and inline code spans that start with `wm ` (a span may wrap over lines). For each, the
subcommand must exist and:
- argparse subcommands (and their sub-subcommands: `wm import KIND`, `wm data info`, `wm bench speed`,
  `wm agent train`, `wm probe train-aux`): the command's own `main(argv)` runs with `ArgumentParser.parse_args`
  patched to stop right after parsing and `ArgumentParser.error` patched to raise, so nothing runs, and a wrong
  flag, a bad value or an unknown subcommand fails the test;
- `wm train TARGET`: the Hydra overrides compose into the typed config (`wm train TARGET ... --print-config`,
  which validates every key and value and trains nothing).

Notation the docs use, and how it is read:
- `[--json]`: optional; checked with and without it.
- `a|b|c` in one word: alternatives; every combination is checked.
- `...` (a word of its own): an elided part. The command is then a fragment, like every inline span (`wm agent eval
  --env Crafter-v0` names one flag of a longer command): a missing required argument is allowed, but every flag
  written must exist and every value written must parse.
- Upper-case placeholders as values (DIR, PATH, OUT, PREVIOUS, WORLD) are fine where any string is, which is
  everywhere argparse is concerned. In `wm train` overrides they cannot be composed (init_from=PREVIOUS names no
  checkpoint), so there only the keys are checked (`check_keys`: every key exists in the run config).
Nothing is skipped outright: every line found is checked at least as a fragment. Not checked: what a command does
after parsing (that paths exist, option combinations such as `--headless` needing `--actions`), and lines that are
not `wm` commands (`torchrun ... -m worldmodel.cli train ...`, `python scripts/...`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import itertools
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from worldmodel.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*$")  # DIR, PATH, PREVIOUS: a value the reader fills in
INLINE = re.compile(r"`([^`]+)`")
FLAG = re.compile(r"^--?[A-Za-z]")
COMMAND = re.compile(r"^wm -?[a-z]")  # `wm play ...`, also `wm nosuch` (reported); not `wm = WorldModel.load()`


@dataclass(frozen=True)
class DocCommand:
    """One `wm` command line found in a doc."""

    where: str  # "docs/data.md:23"
    text: str  # the command as written, continuation lines joined
    inline: bool  # an inline span, often naming a few flags of a longer command


def code_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of the indented code lines that start with `wm `, continuation lines joined."""
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        line, start = lines[number], number + 1
        while line.rstrip().endswith("\\") and number + 1 < len(lines):
            number += 1
            line = line.rstrip()[:-1] + " " + lines[number].strip()
        number += 1
        if line.startswith("    ") and COMMAND.match(line.strip()):
            yield start, line.strip()


def doc_commands(path: Path) -> list[DocCommand]:
    """The `wm` command lines of one markdown file: indented code lines and inline code spans."""
    text = path.read_text(encoding="utf-8")
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    found = [DocCommand(f"{name}:{line}", command, inline=False) for line, command in code_lines(text)]
    for match in INLINE.finditer(text):
        span = " ".join(match.group(1).split())  # a span wrapped over lines
        if COMMAND.match(span):
            found.append(DocCommand(f"{name}:{text.count(chr(10), 0, match.start()) + 1}", span, inline=True))
    return found


def variants(words: list[str]) -> list[list[str]]:
    """The argument lists a documented command stands for: `[--opt]` with and without, `a|b` each alternative,
    `...` dropped (or, as a flag's value, read as a placeholder)."""
    words = [("VALUE" if i and FLAG.match(words[i - 1]) else None) if w == "..." else w for i, w in enumerate(words)]
    words = [w for w in words if w is not None]
    out: list[list[str]] = []
    for keep_optional in (True, False):
        chosen: list[list[str]] = []
        for word in words:
            if word.startswith("[") and word.endswith("]"):
                if keep_optional:
                    chosen.append(word[1:-1].split("|"))
            elif "|" in word and not word.startswith(("{", "'", '"')):
                chosen.append(_alternatives(word))
            else:
                chosen.append([word])
        out += [list(combo) for combo in itertools.product(*chosen)]
    unique: list[list[str]] = []
    for argv in out:
        if argv not in unique:
            unique.append(argv)
    return unique


def _alternatives(word: str) -> list[str]:
    """`--suite=a|b` -> ['--suite=a', '--suite=b']; `a|b` -> ['a', 'b']."""
    head, sep, tail = word.rpartition("=")
    if sep and "|" not in head:
        return [f"{head}={alt}" for alt in tail.split("|")]
    return word.split("|")


class _Parsed(Exception):
    """Raised by the patched parse_args once parsing succeeded: the command stops before doing anything."""


class _ParseError(Exception):
    """Raised by the patched ArgumentParser.error instead of printing usage and exiting."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


@contextlib.contextmanager
def stop_after_parsing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make every ArgumentParser stop the program right after parsing (or raise _ParseError on a bad line)."""
    original = argparse.ArgumentParser.parse_args

    def parse_args(self: argparse.ArgumentParser, args: list[str] | None = None,
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        original(self, args, namespace)
        raise _Parsed()

    def error(self: argparse.ArgumentParser, message: str) -> None:
        raise _ParseError(self, message)

    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", parse_args)
        patch.setattr(argparse.ArgumentParser, "error", error)
        yield


def check_argparse(name: str, argv: list[str], fragment: bool, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """None if `wm NAME ARGV` parses (a fragment may leave required arguments out), else what is wrong."""
    module = importlib.import_module(COMMANDS[name][0])
    out, err = io.StringIO(), io.StringIO()
    with stop_after_parsing(monkeypatch), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = module.main(argv, prog=f"wm {name}")
        except _Parsed:
            return None
        except _ParseError as error:
            if not (fragment and error.message.startswith("the following arguments are required")):
                return error.message
            # Parsing stopped at the missing arguments; flags it did not get to must still exist.
            known = error.parser._option_string_actions
            unknown = [w.split("=")[0] for w in argv if FLAG.match(w) and w.split("=")[0] not in known]
            return f"unrecognized arguments: {' '.join(unknown)}" if unknown else None
        except SystemExit as exit_:  # --help
            return None if exit_.code in (0, None) else f"exit {exit_.code}: {err.getvalue().strip()}"
    # main returned without parsing: only its own usage screen (`wm agent` alone) is fine.
    if not argv and code == 0:
        return None
    return f"exit {code} without parsing: {err.getvalue().strip()}"


def check_train(argv: list[str]) -> str | None:
    """None if the Hydra overrides of `wm train TARGET ...` compose into a valid config, else the error."""
    from worldmodel.train import cli

    if not argv:
        return None  # `wm train` alone: the help screen
    target, overrides = argv[0], argv[1:]
    if not overrides or any(PLACEHOLDER.match(o.partition("=")[2]) for o in overrides):
        if target not in cli.TARGETS:
            return f"unknown target '{target}'"
        try:
            cli.check_keys(target, cli.override_keys(overrides))
        except Exception as error:  # noqa: BLE001 - the message is the test's report
            return str(error)
        return None
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([target, *overrides, "--print-config"], prog="wm train")
    return None if code == 0 else err.getvalue().strip()


def check_command(command: DocCommand, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What is wrong with one documented command (empty when every variant of it parses)."""
    words = shlex.split(command.text, comments=True)[1:]
    if not words or words[0] in ("-h", "--help"):
        return []
    name, rest = words[0], words[1:]
    fragment = command.inline or "..." in rest
    if name not in COMMANDS:
        return [f"unknown command 'wm {name}'"]
    problems = []
    for argv in variants(rest):
        problem = check_train(argv) if name == "train" else check_argparse(name, argv, fragment, monkeypatch)
        if problem:
            problems.append(f"wm {name} {shlex.join(argv)}: {problem}")
    return problems


ALL_COMMANDS = [command for path in DOCS for command in doc_commands(path)]


def test_docs_name_commands() -> None:
    """The collector finds the docs' commands (a broken collector would pass everything)."""
    assert len(ALL_COMMANDS) > 40
    names = {command.text.split()[1] for command in ALL_COMMANDS}
    assert {"play", "collect", "import", "train", "bench", "probe", "agent"} <= names


def test_every_documented_command_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `wm ...` line in README.md and docs/*.md names a real subcommand, real flags and parseable values."""
    register_once(monkeypatch)
    checked: dict[tuple[str, bool], list[str]] = {}  # the same command in several places is checked once
    problems = []
    for command in ALL_COMMANDS:
        key = (shlex.join(shlex.split(command.text, comments=True)), command.inline)
        if key not in checked:
            checked[key] = check_command(command, monkeypatch)
        problems += [f"{command.where}: {problem}" for problem in checked[key]]
    assert not problems, "documented commands that do not parse:\n" + "\n".join(problems)


def register_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Store the run configs in Hydra's ConfigStore once, not at every compose (a tenth of a second each)."""
    from worldmodel.train import runs

    runs.register()
    monkeypatch.setattr(runs, "register", lambda: None)


@pytest.mark.parametrize("text, inline, expected", [
    ("wm collect --env BlockWorld-v0 --out data/x --no-such-flag 3", False, "--no-such-flag"),
    ("wm agent eval --env BlockWorld-v0 --bogus", True, "--bogus"),
    ("wm import vpt ~/vpt --out data/vpt --fps fast", False, "invalid float value"),
    ("wm import tapes ~/x --out data/x", False, "invalid choice"),
    ("wm agent fly --world bundled", False, "without parsing"),
    ("wm nosuch --help", False, "unknown command"),
    ("wm train tokenizer train.stepz=10", False, "stepz"),
    ("wm train dynamics ... init_from=PREVIOUS data.evnt_repeat=10", True, "evnt_repeat"),
])
def test_planted_bad_lines_fail(text: str, inline: bool, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A doc line naming a flag, value, subcommand or key that does not exist is reported."""
    problems = check_command(DocCommand("planted", text, inline), monkeypatch)
    assert problems and expected in " ".join(problems), problems


def test_planted_doc_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A doc with a misspelt flag in a code block and in an inline span is caught, with file and line."""
    doc = tmp_path / "planted.md"
    doc.write_text("Record:\n\n    wm collect --env BlockWorld-v0 \\\n        --episodez 3 --out data/x\n\n"
                   "then `wm data info\n--jsn data/x`.\n", encoding="utf-8")
    commands = doc_commands(doc)
    assert [(c.where, c.inline) for c in commands] == [("planted.md:3", False), ("planted.md:6", True)]
    problems = [check_command(c, monkeypatch) for c in commands]
    assert "--episodez" in problems[0][0] and "--jsn" in problems[1][0], problems


def test_planted_good_lines_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The notation the docs use ([optional], a|b, ..., placeholders) is read, not rejected."""
    for text, inline in [("wm data info data/blockworld [--json]", False),
                           ("wm probe --model bundled|copy-last|PATH --suite permanence|all --out DIR", False),
                           ("wm bench quality --model A B ... --data DIR --plot quality.png", True),
                           ("wm agent", True)]:
        assert check_command(DocCommand("planted", text, inline), monkeypatch) == []
