"""Text from a pull request, made inert in the Markdown report.

Every name and message in the report comes from the repository — in a pull
request, from its author's fork: model, device, op and module names, variant
ids, notes, error text, what a model printed, the git facts of a results
file. The comment is posted from the bot's account, so such text must not
become an image (a tracking pixel in every reviewer's browser), a link, a
mention (`@acme/ml-leads` pinging a team), an issue reference, emphasis, a
closing `</details>`, or a new table cell or line.

`inert` is the `finalize` of the report's jinja2 environment: it runs on the
value of every `{{ ... }}` in the template, so no variable can be forgotten.
The few values that are Markdown we wrote ourselves (the hidden marker, the
Mermaid chart, a fenced traceback) are wrapped in `Markdown` to pass as they
are.

Markdown characters become numeric character references rather than backslash
escapes: CommonMark reads `&#124;` as a literal `|` (it neither splits a table
cell nor starts a code span) and so does HTML, and part of the report (the
`<summary>` lines) is an HTML block, where a backslash would show. GitHub
finds mentions, bare URLs and `#123` references in the *rendered* text, where
references are already decoded: those get a zero-width space instead.
"""

from __future__ import annotations

import re

ZERO_WIDTH = "\u200b"  # invisible, and breaks @name, https://, www. and #123 for GitHub's autolinker
# Every character that can start markup in CommonMark, GFM (tables, strikethrough)
# or GitHub's math; `_` only where it can delimit emphasis (not inside a word, as in
# `memory_access`, which stays readable).
_MARKUP = re.compile(r"""[&<>\\`*\[\]|~$]|(?<![^\W_])_|_(?![^\W_])""")
# Line and paragraph breaks, and the other control characters: one space.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# What GitHub turns into a mention, a link or a reference after rendering.
_AUTOLINKS = re.compile(r"@|#(?=\d)|:(?=//)|(?i:www)(?=\.)")


class Markdown(str):
    """Markdown written by us, not from user data: the template prints it as it is."""


def inert(value: object) -> str:
    """One line of literal text, safe in a table cell, a list item or an HTML block.

    >>> inert("evil|<img src=x>\\n@acme/ml-leads")
    'evil&#124;&#60;img src=x&#62; @\\u200bacme/ml-leads'
    """
    if isinstance(value, Markdown):
        return str(value)
    text = _BREAKS.sub(" ", str(value))
    text = _AUTOLINKS.sub(lambda m: m.group(0) + ZERO_WIDTH, text)
    return _MARKUP.sub(lambda m: f"&#{ord(m.group(0))};", text)
