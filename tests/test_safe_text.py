"""Escaping catalogue values: Streamlit Markdown shows them literally, Plotly's HTML-like text shows them as text."""

from __future__ import annotations

import html
import re
import string

import pytest

from core.common.safe_text import WORD_JOINER as WJ
from core.common.safe_text import md, plotly, unplotly

HOSTILE = ["![t](http://127.0.0.1:9/track.png)", "[site](https://evil.example)", "https://evil.example/x",
           "www.evil.example", "<b>html</b>", ":red[x]", "$x^2$", ":smile: :material/home:", "ops@evil.example",
           "**bold** _it_ ~~gone~~", "# heading", "- item", "1. first", "> quote", "`code`", "a\\*b", "&amp; &lt;"]


@pytest.mark.parametrize("value, escaped", [
    ("![t](http://127.0.0.1:9/track.png)", rf"\!\[t\]\(http\:{WJ}\/\/127\.0\.0\.1\:9\/track\.png\)"),
    ("[site](https://evil.example)", rf"\[site\]\(https\:{WJ}\/\/evil\.example\)"),
    ("https://evil.example", rf"https\:{WJ}\/\/evil\.example"),
    ("see WWW.evil.example", rf"see WWW{WJ}\.evil\.example"),
    ("ops@evil.example", rf"ops\@{WJ}evil\.example"),
    ("<b>html</b>", r"\<b\>html\<\/b\>"),
    (":red[x]", r"\:red\[x\]"),
    (":smile: :material/home:", r"\:smile\: \:material\/home\:"),
    ("$x^2$", r"\$x\^2\$"),
    ("Nike Men Blue T-shirt", r"Nike Men Blue T\-shirt"),
    ("Red\n\n    Dress\t", "Red Dress"),
    ("Café · Été", "Café · Été"),
    (None, ""),
    (12, "12"),
])
def test_markdown_escape_exact_output(value, escaped):
    assert md(value) == escaped


def test_markdown_escape_puts_a_backslash_before_every_ascii_punctuation_character():
    expected = "".join("\\" + c + (WJ if c == "@" else "") for c in string.punctuation)
    assert md(string.punctuation) == expected


@pytest.mark.parametrize("value", HOSTILE)
def test_escaped_markdown_renders_as_the_literal_text(value):
    """CommonMark's own reading: one paragraph holding exactly the value, no link, image, emphasis or tag."""
    markdown_it = pytest.importorskip("markdown_it")
    rendered = markdown_it.MarkdownIt("commonmark").render(md(value)).replace(WJ, "")
    assert rendered == f"<p>{html.escape(value, quote=False)}</p>\n"


@pytest.mark.parametrize("value", HOSTILE)
def test_escaped_markdown_leaves_no_autolink_trigger(value):
    """GFM finds bare URLs and e-mails in the text after escapes are resolved: none may be left to find."""
    text = re.sub(r"\\(.)", r"\1", md(value))
    assert not re.search(r"(https?://|www(?=\.))[-.\w]+|[-.\w+]+@[-\w]+(\.[-\w]+)+", text, re.IGNORECASE)
    assert text.replace(WJ, "") == value


def test_plotly_escape_exact_output_and_round_trip():
    value = '<a href="https://evil.example">Red</a> & <br><img src=x> &lt;'
    assert plotly(value) == ('&lt;a href="https://evil.example"&gt;Red&lt;/a&gt; &amp; '
                             '&lt;br&gt;&lt;img src=x&gt; &amp;lt;')
    assert unplotly(plotly(value)) == value
    assert plotly("Nike Men Blue T-shirt") == "Nike Men Blue T-shirt"
    assert plotly(None) == ""
