"""Text from case files and framework messages, made inert for every output: control characters (ANSI
escape codes, carriage returns, bidirectional overrides) are shown as escapes, never obeyed by a terminal
or hidden in a page. Markdown and HTML add their own escaping on top (report.md_text, html.escape)."""

from __future__ import annotations

import unicodedata


def inert(text: object) -> str:
    """Text from a case file or a framework with every control character (ANSI escape codes, carriage
    returns, bidirectional overrides) shown as its escape, so it can neither restyle a terminal nor hide
    text; newlines and tabs are kept."""
    text = str(text)
    if text.isprintable() or text.replace("\n", "").replace("\t", "").isprintable():
        return text  # no control character (isprintable is False for every Cc and Cf one): nothing to escape
    return "".join(ch if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf") else _escape(ch)
                   for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
