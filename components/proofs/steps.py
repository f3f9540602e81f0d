"""Splitting of free-form proof text into steps.

A step is the unit that a reviewer labels and that the process head of the
reward model scores. `split_steps` cuts a proof at numbered lines ("1.", "1)",
"Step 1:", "**Step 1**", "### Step 1:") when the text has at least two of them,
and otherwise at blank lines. A LaTeX math block with both delimiters is never
cut. A display block (`\\[...\\]`, `$$...$$`, `\\begin{align}...\\end{align}` and the
other display environments) stays in the step of the sentence that introduces it,
and a step longer than `max_chars` is cut only at sentence ends outside math.
"""

from __future__ import annotations

import bisect
import re

from components.errors import InputError

# A step shorter than this, once its number is stripped, is merged into a neighbor,
# because "Proof.", "Case 2:" or a lone "QED" is nothing a reviewer could label alone.
MIN_STEP_CHARS = 20

# Top-level display environments, and the inner ones ("aligned", "cases", ...) in case
# one appears without a surrounding display block.
_DISPLAY_ENVIRONMENTS = (
    "align",
    "alignat",
    "aligned",
    "array",
    "cases",
    "displaymath",
    "eqnarray",
    "equation",
    "flalign",
    "gather",
    "gathered",
    "multline",
    "split",
)

# `\$\$...\$\$` counts as display math because PDF-converted proofs (such as the
# human solutions in the Open Proof Corpus) escape the dollars of display blocks.
# Display math may span blank lines (real proofs put them inside `aligned`), but
# inline math may not, nor a line break before a step number. An unpaired `$` (a
# price such as "$1.24") then cannot swallow the paragraphs or steps after it.
_INLINE_NEWLINE = r"\n(?![ \t]*\n)(?![ \t]*(?:\d+[.)]\s|(?i:step)[ \t]+\d))"
_MATH = re.compile(
    r"""
    (?P<display>
        \\\[.*?\\\]
      | \$\$.*?\$\$
      | \\\$\\\$.*?\\\$\\\$
      | \\begin\{(?P<env>(?:"""
    + "|".join(_DISPLAY_ENVIRONMENTS)
    + r""")\*?)\}.*?\\end\{(?P=env)\}
    )
  | (?P<inline>
        \\\((?:[^\n]|"""
    + _INLINE_NEWLINE
    + r""")*?\\\)
      | (?<!\\)\$(?:\\.|[^$\\\n]|"""
    + _INLINE_NEWLINE
    + r""")+?\$
    )
    """,
    re.DOTALL | re.VERBOSE,
)

_BOLD = r"(?:\*\*|__)"
_DELIMITER = r"[.:)\-\u2013\u2014]"

# A step number at the start of a step: "3. ", "3) ", "Step 3:", "Step 3.", "**Step 3**",
# "**Step 3:**", "**3.**" and any of these after a Markdown heading mark ("### Step 3:").
# "Step 3" needs a delimiter, bold markers or the end of the line after it, so that
# "Step 3 is to show ..." keeps its words.
_STEP_NUMBER = re.compile(
    rf"""
    [ \t]*
    (?:\#{{1,6}}[ \t]+)?
    (?:{_BOLD}[ \t]*)?
    (?:
        step[ \t]+\d+(?:\.\d+)*
        (?:
            [ \t]*{_BOLD}[ \t]*{_DELIMITER}?
          | [ \t]*{_DELIMITER}(?:[ \t]*{_BOLD})?
          | [ \t]*(?=\n|$)
        )
      | \d+[.)](?:{_BOLD})?(?=\s|$)
    )
    [ \t]*
    """,
    re.IGNORECASE | re.VERBOSE,
)

_LINE_START = re.compile(r"^", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")

# A sentence ends at ".", "!" or "?" (possibly followed by closing quotes, brackets or
# Markdown emphasis) when the next word does not start with a lowercase letter.
_SENTENCE_END = re.compile(r"[.!?][\"'\u2019\u201d)\]}*_]*(?=\s+[^\s])")
_ABBREVIATIONS = frozenset(
    {"e.g", "i.e", "cf", "resp", "etc", "vs", "fig", "eq", "eqs", "thm", "lem", "prop", "no", "ref"}
)
_WORD_BEFORE = re.compile(r"([A-Za-z](?:[A-Za-z.]*[A-Za-z])?)$")
_SPACES = re.compile(r"\s*")


def strip_step_number(step: str) -> str:
    """Remove a leading step number ("3. ", "3) ", "Step 3:", "**Step 3**") and the spaces after it.

    Text without a leading step number is returned unchanged. A bold marker opened
    before the number and not closed is kept, so "**Step 1: Setup**" becomes
    "**Setup**".
    """
    match = _STEP_NUMBER.match(step)
    if match is None:
        return step
    prefix = match.group()
    rest = step[match.end() :]
    for marker in ("**", "__"):
        if prefix.count(marker) % 2 == 1 and rest.strip():
            rest = marker + rest
    return rest


def split_steps(text: str, max_chars: int = 600) -> list[str]:
    """Split a free-form proof into steps, each stripped of its step number.

    The proof is cut at numbered lines when it has at least two of them, else at
    blank lines. A display-math block stays with the sentence before it, and so does
    text after the block that continues that sentence (it starts with a lowercase
    letter or punctuation). A step longer than `max_chars` is cut at paragraph and
    then sentence ends outside math, and the pieces are packed back up to
    `max_chars`. Steps shorter than `MIN_STEP_CHARS` are merged into the next step
    (the last one into the previous step). No returned step is blank.

    Raises InputError when the text is empty, blank or contains only step numbers,
    and when `max_chars` is not positive.
    """
    if not isinstance(text, str):
        raise InputError(f"proof text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InputError("proof text is empty", hint="Give the proof as non-blank text")
    if max_chars < 1:
        raise InputError(f"max_chars must be positive, got {max_chars}", field="max_chars")

    text = text.replace("\r\n", "\n").replace("\r", "\n")
    math = _MathSpans(text)

    segments = _numbered_segments(text, math)
    if segments is None:
        segments = _paragraphs(text, 0, len(text), math)

    pieces: list[tuple[int, int]] = []
    for start, end in segments:
        pieces.extend(_split_long(text, start, end, max_chars, math))

    steps = [strip_step_number(text[start:end].strip()).strip() for start, end in pieces]
    steps = _merge_short([step for step in steps if step])
    if not steps:
        raise InputError(
            "proof text contains only step numbers",
            hint="Give each step its text, not just its number",
        )
    return steps


class _MathSpans:
    """The (start, end) offsets of every math block in a text, display blocks flagged."""

    def __init__(self, text: str) -> None:
        self.spans: list[tuple[int, int, bool]] = [
            (match.start(), match.end(), match.group("display") is not None)
            for match in _MATH.finditer(text)
        ]
        self._starts = [start for start, _, _ in self.spans]
        self.display_starts = {start for start, _, display in self.spans if display}
        self.display_ends = {end for _, end, display in self.spans if display}

    def inside(self, position: int) -> bool:
        """Return whether `position` lies strictly inside a math block."""
        index = bisect.bisect_right(self._starts, position) - 1
        if index < 0:
            return False
        start, end, _ = self.spans[index]
        return start < position < end


def _numbered_segments(text: str, math: _MathSpans) -> list[tuple[int, int]] | None:
    """Cut at lines that start with a step number, or return None if fewer than two do.

    NOTE: a wrapped line that happens to start with "2) " or "3. " counts as numbered.
    """
    starts = [
        line.start()
        for line in _LINE_START.finditer(text)
        if not math.inside(line.start()) and _STEP_NUMBER.match(text, line.start())
    ]
    if len(starts) < 2:
        return None

    bounds = [0, *starts, len(text)] if starts[0] > 0 else [*starts, len(text)]
    return [(start, end) for start, end in zip(bounds, bounds[1:]) if text[start:end].strip()]


def _paragraphs(text: str, start: int, end: int, math: _MathSpans) -> list[tuple[int, int]]:
    """Cut text[start:end] at blank lines outside math.

    Display math stays with the sentence before it.
    """
    bounds = [start]
    for gap in _BLANK_LINES.finditer(text, start, end):
        if not math.inside(gap.start()):
            bounds.append(gap.end())
    bounds.append(end)
    paragraphs = [
        (left, right) for left, right in zip(bounds, bounds[1:]) if text[left:right].strip()
    ]

    merged: list[tuple[int, int]] = []
    for left, right in paragraphs:
        if merged and _continues_previous(text, merged[-1], (left, right), math):
            merged[-1] = (merged[-1][0], right)
        else:
            merged.append((left, right))
    return merged


def _continues_previous(
    text: str, previous: tuple[int, int], paragraph: tuple[int, int], math: _MathSpans
) -> bool:
    """Return whether `paragraph` belongs to the `previous` one.

    It does when it opens with display math, or when the previous paragraph ends with
    display math and this one goes on with the same sentence ("..., which gives").
    """
    body = text[paragraph[0] : paragraph[1]]
    first = paragraph[0] + len(body) - len(body.lstrip())
    if first in math.display_starts:
        return True

    previous_end = previous[0] + len(text[previous[0] : previous[1]].rstrip())
    return previous_end in math.display_ends and _continues_sentence(text, first)


def _continues_sentence(text: str, position: int) -> bool:
    """Return whether the text at `position` goes on with a sentence begun before it."""
    return position < len(text) and (text[position].islower() or text[position] in ",.;:)]}")


def _split_long(
    text: str, start: int, end: int, max_chars: int, math: _MathSpans
) -> list[tuple[int, int]]:
    """Cut text[start:end] into pieces of at most `max_chars` where it can.

    Cuts go at blank lines first, then at sentence ends, never inside math. A single
    sentence longer than `max_chars` stays whole.
    """
    if end - start <= max_chars:
        return [(start, end)]

    units: list[tuple[int, int]] = []
    for paragraph_start, paragraph_end in _paragraphs(text, start, end, math):
        if paragraph_end - paragraph_start <= max_chars:
            units.append((paragraph_start, paragraph_end))
        else:
            units.extend(_sentences(text, paragraph_start, paragraph_end, math))
    return _pack(units, max_chars)


def _sentences(text: str, start: int, end: int, math: _MathSpans) -> list[tuple[int, int]]:
    """Cut text[start:end] at sentence ends and after display blocks, never inside math."""
    cuts = []
    for match in _SENTENCE_END.finditer(text, start, end):
        if math.inside(match.start()):
            continue
        if match.group()[0] == "." and _is_abbreviation(text, start, match.start()):
            continue
        cuts.append(match.end())
    cuts.extend(position for position in math.display_ends if start < position < end)

    # A cut is kept only where the next word opens a new sentence, and never right
    # before display math, which belongs to the sentence that introduces it.
    cuts = [
        position
        for position in cuts
        if not _continues_sentence(text, _next_word(text, position))
        and _next_word(text, position) not in math.display_starts
    ]
    bounds = [start, *sorted(set(cuts)), end]
    return [(left, right) for left, right in zip(bounds, bounds[1:]) if text[left:right].strip()]


def _next_word(text: str, position: int) -> int:
    """Return the offset of the first non-space character at or after `position`."""
    return _SPACES.match(text, position).end()


def _is_abbreviation(text: str, start: int, period: int) -> bool:
    # The window is longer than any abbreviation and keeps the search from rescanning
    # the whole paragraph at every period.
    word = _WORD_BEFORE.search(text, max(start, period - 12), period)
    return word is not None and word.group(1).lower() in _ABBREVIATIONS


def _pack(units: list[tuple[int, int]], max_chars: int) -> list[tuple[int, int]]:
    """Join consecutive units while the joined text stays within `max_chars`."""
    packed: list[tuple[int, int]] = []
    for start, end in units:
        if packed and end - packed[-1][0] <= max_chars:
            packed[-1] = (packed[-1][0], end)
        else:
            packed.append((start, end))
    return packed


def _merge_short(steps: list[str]) -> list[str]:
    """Merge each step under `MIN_STEP_CHARS` into the next one, the last into the previous."""
    merged: list[str] = []
    carry = ""
    for step in steps:
        step = f"{carry}\n{step}" if carry else step
        carry = ""
        if len(step) < MIN_STEP_CHARS:
            carry = step
        else:
            merged.append(step)
    if carry:
        if merged:
            merged[-1] = f"{merged[-1]}\n{carry}"
        else:
            merged.append(carry)
    return merged
