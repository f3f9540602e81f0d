"""Correct rewordings of proof text: sentence restructuring (rephrase), synonyms (augment) and prose helpers.

Every rule works on text whose formulas are masked (components.proofs.mathtext),
so a rewording never changes a formula. The error injectors reuse the prose
helpers to keep edited sentences grammatical.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from components.proofs.mathtext import THEOREMS, mask_math, split_sentences

# ---------------------------------------------------------------------------
# Prose helpers
# ---------------------------------------------------------------------------

# Capitalised words that start sentences and can be lowercased when a clause moves
# into the middle of a sentence. Any other capitalised word (a name, a variable) stays.
_SENTENCE_STARTERS = frozenset(
    "The We This That These Those It Its Then Both Each Every All There Our A An In For Now Here "
    "Any No One Some Either Neither Their Adding Expanding Substituting Multiplying Dividing "
    "Subtracting Taking Applying Using Squaring Factoring Solving Combining Regroup Write".split()
)
_CONNECTIVE_FORMS = ("Therefore, ", "Hence ", "Thus ", "Consequently, ", "It follows that ")
_CONNECTIVE = re.compile(r"^(?:Therefore|Hence|Thus|Consequently|So|It follows that)\b,?\s+")
_NOTE_FORMS = ("Note that ", "Observe that ", "Notice that ")


def capitalize(text: str) -> str:
    return text[0].upper() + text[1:] if text and text[0].islower() else text


# Capitalised words at the start of a sentence that are names, not ordinary words.
_NAMES = frozenset(
    word for theorem in THEOREMS for word in re.findall(r"[A-Z][a-z]+", theorem.name + " " + " ".join(theorem.wrong))
)


def decapitalize(text: str) -> str:
    """Lowercase the first word of a clause that moves into the middle of a sentence.

    A word stays capitalised when it is a name: a known theorem's name, a possessive
    or hyphenated word ("Fermat's", "Cauchy-Schwarz"), or a single letter ("A").
    """
    first = re.match(r"([A-Z][a-z]+)(?!['’-])\b", text)
    if first and (first.group(1) in _SENTENCE_STARTERS or first.group(1) not in _NAMES):
        return text[0].lower() + text[1:]
    return text


def split_end(sentence: str) -> tuple[str, str]:
    """Split a sentence into its body and its final punctuation."""
    match = re.match(r"^(.*?)([.!?]?)$", sentence.strip(), re.DOTALL)
    assert match is not None
    return match.group(1), match.group(2)


def fix_articles(text: str) -> str:
    text = re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", lambda match: match.group(1) + "n ", text)
    return re.sub(r"\b([Aa])n (?=[b-df-hj-np-tv-zB-DF-HJ-NP-TV-Z])", lambda match: match.group(1) + " ", text)


def tidy(text: str) -> str:
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    text = re.sub(r",\s*,", ",", text)
    return text.strip()


# ---------------------------------------------------------------------------
# Rephrase rules: each takes the body of a masked sentence (no final punctuation)
# and returns the restructured body, or None when it does not apply.
# ---------------------------------------------------------------------------

_FORMULA = "\ue000\\d+\ue001"


def continues_list(rest: str) -> bool:
    """Return whether text after a comma continues a list ("$2$, $3$ and $5$ divide ...")."""
    return re.match(rf"^{_FORMULA}\s*(?:,|and\b|or\b)", rest) is not None


def _since_to_back(body: str, rng: random.Random) -> str | None:
    match = re.match(r"^(Since|Because|As) ([^,]+), ([^,;]+)$", body, re.DOTALL)
    if not match or re.match(r"(?:then|so)\b", match.group(3)) or " since " in match.group(3):
        return None
    if continues_list(match.group(3)):
        return None
    return f"{capitalize(match.group(3))}, {match.group(1).lower()} {match.group(2)}"


def _since_to_front(body: str, rng: random.Random) -> str | None:
    match = re.match(r"^(.+?), (since|because) ([^,;]+)$", body, re.DOTALL)
    if not match or _CONNECTIVE.match(match.group(1)) or len(match.group(1).split()) < 2:
        return None
    return f"{match.group(2).capitalize()} {match.group(3)}, {decapitalize(match.group(1))}"


def _by_to_back(body: str, rng: random.Random) -> str | None:
    match = re.match(r"^By ([^,]+), ([^,;]+)$", body, re.DOTALL)
    if not match:
        return None
    return f"{capitalize(match.group(2))} by {match.group(1)}"


def _by_to_front(body: str, rng: random.Random) -> str | None:
    match = re.match(
        r"^(.+?),? by (induction|(?:the )?[^,;]*?(?:theorem|inequality|lemma|principle|formulas?|identity))$",
        body,
        re.DOTALL,
    )
    if not match or _CONNECTIVE.match(match.group(1)):
        return None
    return f"By {match.group(2)}, {decapitalize(match.group(1))}"


def _we_have_to_holds(body: str, rng: random.Random) -> str | None:
    match = re.match(rf"^(?:(Therefore|Hence|Thus|So|Then),? )?[Ww]e have ({_FORMULA})(.*)$", body, re.DOTALL)
    if not match:
        return None
    connective = f"{match.group(1)} " if match.group(1) else ""
    return f"{connective}{match.group(2)} holds{match.group(3)}"


def _holds_to_we_have(body: str, rng: random.Random) -> str | None:
    match = re.match(rf"^(?:(Therefore|Hence|Thus|So|Then),? )?({_FORMULA}) holds(.*)$", body, re.DOTALL)
    if not match:
        return None
    if match.group(1):
        return f"{match.group(1)} we have {match.group(2)}{match.group(3)}"
    return f"We have {match.group(2)}{match.group(3)}"


def _swap_connective(body: str, rng: random.Random) -> str | None:
    match = _CONNECTIVE.match(body)
    if not match:
        return None
    current = match.group().strip().rstrip(",")
    choices = [form for form in _CONNECTIVE_FORMS if form.strip().rstrip(",") != current]
    return rng.choice(choices) + body[match.end() :]


def _swap_note(body: str, rng: random.Random) -> str | None:
    match = re.match(r"^(?:Note|Observe|Notice) that ", body)
    if not match:
        return None
    choices = [form for form in _NOTE_FORMS if form != match.group()]
    return rng.choice(choices) + body[match.end() :]


def _so_to_since(body: str, rng: random.Random) -> str | None:
    match = re.match(r"^(Then )?([^,;]+), so (.+)$", body, re.DOTALL)
    if not match or _CONNECTIVE.match(match.group(2)):
        return None
    if re.match(r"(?:Since|Because|As|If|When|Case|Let|By|For|In|Of|At|Then)\b", match.group(2)):
        return None
    if match.group(1):
        return f"Then, since {match.group(2)}, {match.group(3)}"
    return f"Since {decapitalize(match.group(2))}, {match.group(3)}"


def _if_then_to_back(body: str, rng: random.Random) -> str | None:
    match = re.match(r"^If ([^,]+), then ([^;]+)$", body, re.DOTALL)
    if not match or re.search(r"\b(?:since|because|if)\b", match.group(2)):
        return None
    return f"{capitalize(match.group(2))} if {match.group(1)}"


RephraseRule = Callable[[str, random.Random], "str | None"]
_REPHRASE_RULES: tuple[tuple[str, RephraseRule], ...] = (
    ("since_to_back", _since_to_back),
    ("since_to_front", _since_to_front),
    ("by_to_back", _by_to_back),
    ("by_to_front", _by_to_front),
    ("we_have_to_holds", _we_have_to_holds),
    ("holds_to_we_have", _holds_to_we_have),
    ("swap_connective", _swap_connective),
    ("swap_note", _swap_note),
    ("so_to_since", _so_to_since),
    ("if_then_to_back", _if_then_to_back),
)


def rephrase_text(text: str, rng: random.Random, probability: float, force: bool) -> tuple[str, list[str]]:
    """Restructure the sentences of one step; return the new text and the rules applied."""
    masked = mask_math(text)
    sentences = split_sentences(masked.masked)
    options: list[tuple[int, str, str]] = []
    for index, sentence in enumerate(sentences):
        body, end = split_end(sentence)
        for name, rule in _REPHRASE_RULES:
            result = rule(body, random.Random(rng.random()))
            if result is not None and result != body:
                options.append((index, name, result + end))

    chosen: dict[int, tuple[str, str]] = {}
    for index in sorted({index for index, _, _ in options}):
        if rng.random() < probability:
            name, result = rng.choice([(name, result) for i, name, result in options if i == index])
            chosen[index] = (name, result)
    if force and not chosen and options:
        index, name, result = rng.choice(options)
        chosen[index] = (name, result)
    if not chosen:
        return text, []
    new_sentences = [chosen[index][1] if index in chosen else sentence for index, sentence in enumerate(sentences)]
    return masked.unmask(" ".join(new_sentences)), [chosen[index][0] for index in sorted(chosen)]


# ---------------------------------------------------------------------------
# Synonyms for augment: each phrase may be replaced by another of its group. No
# group may introduce a cue word of the pre-check ("clearly", "for all", ...),
# and none touches a word that carries mathematical content.
# ---------------------------------------------------------------------------

SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("we obtain", "we get"),
    ("this gives", "this yields"),
    ("which gives", "which yields"),
    ("observe that", "note that", "notice that"),
    ("suppose that", "assume that"),
    ("therefore", "thus", "hence", "consequently"),
    ("this shows that", "this proves that"),
    ("we show that", "we prove that"),
    ("it suffices to show", "it is enough to show"),
    ("is equal to", "equals"),
    ("completes the proof", "finishes the proof", "concludes the proof"),
    ("as required", "as desired", "as claimed"),
    ("for every", "for each"),
    ("we consider", "we look at"),
    ("because", "since"),
    ("expanding", "multiplying out"),
    ("both sides", "each side"),
    ("the left side", "the left-hand side"),
    ("the right side", "the right-hand side"),
    ("is divisible by", "is a multiple of"),
    ("in both cases", "in either case"),
    ("we use", "we apply"),
    ("we compute", "a computation gives"),
    ("for some integer", "for a suitable integer"),
    ("exactly when", "precisely when"),
    ("for example", "for instance"),
    ("gives", "yields"),
    ("we write", "we express"),
    ("term by term", "termwise"),
)
_SYNONYM_OF = {phrase: group for group in SYNONYM_GROUPS for phrase in group}
_SYNONYM_PATTERN = re.compile(
    r"\b(?:" + "|".join(re.escape(phrase) for phrase in sorted(_SYNONYM_OF, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)


def synonym_matches(masked: str) -> list[re.Match[str]]:
    return list(_SYNONYM_PATTERN.finditer(masked))


def _replace_synonym(match: re.Match[str], rng: random.Random) -> str:
    found = match.group()
    choices = [phrase for phrase in _SYNONYM_OF[found.lower()] if phrase != found.lower()]
    replacement = rng.choice(choices)
    return capitalize(replacement) if found[0].isupper() else replacement


def augment_text(text: str, rng: random.Random, probability: float) -> tuple[str, int]:
    """Replace phrases outside formulas by synonyms; return the text and the number replaced."""
    masked = mask_math(text)
    pieces = []
    last = 0
    replaced = 0
    for match in synonym_matches(masked.masked):
        if rng.random() >= probability:
            continue
        pieces.append(masked.masked[last : match.start()])
        pieces.append(_replace_synonym(match, rng))
        last = match.end()
        replaced += 1
    pieces.append(masked.masked[last:])
    return masked.unmask(fix_articles("".join(pieces))), replaced
