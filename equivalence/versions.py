"""Framework version ranges: a case limited to some versions (``requires``), an expected divergence
that holds only in some (``[[expect.divergent]] versions``).

A range is a PEP 440 specifier set such as ``">=3.0,<3.2"``, parsed by ``packaging`` (the library pip
itself uses), so ``3.0.0rc1``, ``2.13.0+cpu`` and ``==3.2.*`` mean what they mean to pip. Pre-releases are
inside a range that their release would be inside: a ``3.1.0rc1`` build is checked like 3.1.
"""

from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

ACCEPTED = "PEP 440 version specifiers joined by ',', e.g. '>=3.0', '>=3.0,<3.2', '==2.6.*'"


def parse(text: str) -> SpecifierSet:
    """The specifier set of ``text``; ValueError (with the reason) for a malformed or empty one."""
    try:
        specifiers = SpecifierSet(text)
    except InvalidSpecifier as exc:
        raise ValueError(f"{text!r} is not a version range ({exc})") from None
    if not len(specifiers):
        raise ValueError(f"{text!r} is an empty version range")
    return specifiers


def contains(text: str, version: str) -> bool:
    """Whether an installed version string lies in the range. An unparsable version lies in none."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return parse(text).contains(parsed, prereleases=True)


def misses(ranges: dict[str, str], installed: dict[str, str]) -> list[str]:
    """One sentence per framework whose installed version is outside its range (or unknown); empty when
    every range holds. ``installed`` maps framework names to version strings (``BackendInfo.versions``)."""
    problems = []
    for framework, text in ranges.items():
        version = installed.get(framework)
        if version is None:
            problems.append(f"{framework} is not running, so its range {text} cannot hold")
        elif not contains(text, version):
            problems.append(f"{framework} {version} is outside {text}")
    return problems


def describe(ranges: dict[str, str]) -> str:
    return ", ".join(f"{framework} {text}" for framework, text in ranges.items())
