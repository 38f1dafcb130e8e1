"""Catalogue values shown as data: escaping for Streamlit Markdown and for Plotly's HTML-like text.

Titles, colours, product ids, board names and error messages that quote them come from a CSV or a link, so
they are text, never markup: a title `![t](http://tracker/x.png)` must not make every viewer's browser fetch
that URL. Every value that reaches a Markdown widget goes through `md`, every value in a Plotly name, hover or
annotation through `plotly`.
"""

from __future__ import annotations

import html
import re
import string

# CommonMark lets a backslash escape any ASCII punctuation character, and an escaped character is never markup.
# Escaping all of them, not a hand-picked few, also stops Streamlit's extensions, which all start with
# punctuation: `:red[x]` colours, `:material/icon:` and `:smile:` shortcodes, `$math$` and `<b>` raw HTML.
_MARKDOWN_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
# GFM's bare-URL and e-mail autolinks are found after escapes are resolved (a regex over the parsed text:
# `https?://`, `www.`, `x@y.z`), so escaping cannot stop them. An invisible WORD JOINER (U+2060) inside each
# trigger does: `https:\u2060//evil.example` reads the same but no longer matches. Only these spots get one.
_AUTOLINK_TRIGGER = re.compile(r"(?<=:)(?=/)|(?i:(?<=www))(?=\.)|(?<=@)")
WORD_JOINER = "\u2060"
_WHITESPACE = re.compile(r"\s+")


def md(value) -> str:
    """Markdown that shows `value` as plain text, literally.

    Runs of whitespace (newlines and tabs too) become one space, as HTML would show them anyway: a newline
    would otherwise start a new block, and four leading spaces a code block in which escapes show.
    """
    text = _WHITESPACE.sub(" ", "" if value is None else str(value)).strip()
    text = _AUTOLINK_TRIGGER.sub(WORD_JOINER, text)
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def plotly(value) -> str:
    """Text for Plotly trace names, hover data and annotations, which Plotly reads as a subset of HTML.

    Escaping `&`, `<` and `>` is enough: without `<` no tag (`<a href>`, `<img>`, `<br>`) can start, and
    Plotly shows `&lt;` as `<`, so the value reads as written.
    """
    return html.escape("" if value is None else str(value), quote=False)


def unplotly(text: str) -> str:
    """The value `plotly` escaped, back (for ids that come back in a chart's selection event)."""
    return html.unescape(text)
