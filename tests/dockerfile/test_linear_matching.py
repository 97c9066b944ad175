"""Patterns that make a backtracking regex take exponential time finish at once.

Each check runs in a child process with a 10 s limit: before the matchers were
linear, `a*a*...*c` with 30 stars against a long name ran for hours.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def run_quickly(code: str) -> str:
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=10, cwd=ROOT, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail("matching a 30-star pattern did not finish in 10 s")
    return done.stdout


def test_dockerignore_patterns_with_many_stars() -> None:
    out = run_quickly(
        "from minidock.dockerfile import IgnoreMatcher\n"
        "name = 'a' * 60\n"
        "stars = 'a*' * 30\n"
        "print(IgnoreMatcher([stars + 'c']).matches(name),\n"
        "      IgnoreMatcher(['**/' + stars + 'c/**']).matches('x/' + name + '/y'),\n"
        "      IgnoreMatcher([stars]).matches(name + '/inside'))\n")
    assert out.split() == ["False", "False", "True"]


def test_shell_patterns_with_many_stars() -> None:
    out = run_quickly(
        "from minidock.dockerfile.shell import expand_word\n"
        "env = {'v': 'a' * 60}\n"
        "stars = 'a*' * 30\n"
        "for word in ['${v/' + stars + 'c/X}', '${v//' + stars + 'c/X}', '${v#' + stars + 'c}',\n"
        "             '${v##' + stars + 'c}', '${v%' + stars + 'c}', '${v%%' + stars + 'c}',\n"
        "             '${v/' + stars + '/X}']:\n"
        "    print(len(expand_word(word, env)))\n")
    # nothing matches the patterns that end in c; the last one replaces everything
    assert out.split() == ["60"] * 6 + ["1"]
