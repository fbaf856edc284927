"""The README's optimizer mapping table is the registry's: names and defaults cannot drift from the
reference (which the tests check against the installed sources)."""

from __future__ import annotations

from pathlib import Path

import pytest

from equivalence.reference.optimizers import REGISTRY

pytestmark = pytest.mark.harness

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _default(arg) -> str:
    if arg.name is None:
        return "-" if arg.default is None else f"(behaves as {arg.default!r})"
    if arg.default is None:
        return "required"
    if isinstance(arg.default, (tuple, dict)) and not arg.default:
        return "none"
    return repr(arg.default) + (" (float32 in the kernel)" if arg.float32 else "")


def mapping_table() -> str:
    """Markdown: one row per hyper-parameter, differing defaults in bold."""
    lines = ["| optimizer | neutral key | Paddle argument | Paddle default | Torch argument | Torch default |",
             "|---|---|---|---|---|---|"]
    for info in REGISTRY.values():
        paddle = f"`paddle.optimizer.{info.paddle}`" if info.paddle else "-"
        torch = f"`torch.optim.{info.torch}`" if info.torch else "- (none)"
        lines.append(f"| **{info.name}** | | {paddle} | | {torch} | |")
        for key, hyper in info.hypers.items():
            p, t = _default(hyper.paddle), _default(hyper.torch)
            if hyper.defaults_differ() or (hyper.paddle.name and hyper.torch.name and
                                            (hyper.paddle.default is None) != (hyper.torch.default is None)):
                p, t = f"**{p}**", f"**{t}**"
            pname = f"`{hyper.paddle.name}`" if hyper.paddle.name else "-"
            tname = f"`{hyper.torch.name}`" if hyper.torch.name else "-"
            lines.append(f"| | `{key}` | {pname} | {p} | {tname} | {t} |")
    return "\n".join(lines)


def test_readme_has_the_registry_mapping_table():
    table = mapping_table()
    assert table in README, "README.md's optimizer mapping table is not the registry's; replace it with:\n" + table
