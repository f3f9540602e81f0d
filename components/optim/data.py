"""Data for the optimizer comparisons: a character-level corpus and scikit-learn's 8x8 digits.

Each data set becomes one `.npz` file of arrays, so a training stage can load it
in another process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from components.errors import InputError

# Four of Shakespeare's sonnets (18, 29, 116 and 130, public domain): the corpus when no text file is given.
BUILTIN_CORPUS = """Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date;
Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd;
And every fair from fair sometime declines,
By chance or nature's changing course untrimm'd;
But thy eternal summer shall not fade,
Nor lose possession of that fair thou ow'st;
Nor shall death brag thou wander'st in his shade,
When in eternal lines to time thou grow'st:
So long as men can breathe or eyes can see,
So long lives this, and this gives life to thee.

When, in disgrace with fortune and men's eyes,
I all alone beweep my outcast state,
And trouble deaf heaven with my bootless cries,
And look upon myself and curse my fate,
Wishing me like to one more rich in hope,
Featured like him, like him with friends possess'd,
Desiring this man's art and that man's scope,
With what I most enjoy contented least;
Yet in these thoughts myself almost despising,
Haply I think on thee, and then my state,
Like to the lark at break of day arising
From sullen earth, sings hymns at heaven's gate;
For thy sweet love remember'd such wealth brings
That then I scorn to change my state with kings.

Let me not to the marriage of true minds
Admit impediments. Love is not love
Which alters when it alteration finds,
Or bends with the remover to remove:
O no! it is an ever-fixed mark
That looks on tempests and is never shaken;
It is the star to every wandering bark,
Whose worth's unknown, although his height be taken.
Love's not Time's fool, though rosy lips and cheeks
Within his bending sickle's compass come;
Love alters not with his brief hours and weeks,
But bears it out even to the edge of doom.
If this be error and upon me proved,
I never writ, nor no man ever loved.

My mistress' eyes are nothing like the sun;
Coral is far more red than her lips' red;
If snow be white, why then her breasts are dun;
If hairs be wires, black wires grow on her head.
I have seen roses damask'd, red and white,
But no such roses see I in her cheeks;
And in some perfumes is there more delight
Than in the breath that from my mistress reeks.
I love to hear her speak, yet well I know
That music hath a far more pleasing sound;
I grant I never saw a goddess go;
My mistress, when she walks, treads on the ground:
And yet, by heaven, I think my love as rare
As any she belied with false compare.
"""


@dataclass(frozen=True)
class CharCorpus:
    """A character-level corpus split by position: the first part trains, the rest validates."""

    vocab: str
    train: np.ndarray  # int64 token ids
    val: np.ndarray

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)


def read_text(path: Path | None, max_chars: int | None = None) -> tuple[str, str]:
    """Return (text, source): the UTF-8 file at `path`, or the built-in corpus when `path` is None."""
    if path is None:
        text, source = BUILTIN_CORPUS, "builtin:sonnets"
    else:
        path = Path(path)
        if not path.is_file():
            raise InputError("text corpus not found", path=path, hint="Give a UTF-8 text file or leave data.text_path unset")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"not valid UTF-8 text at byte {exc.start}", path=path, hint="Convert the file to UTF-8") from exc
        source = str(path)
    if max_chars is not None:
        text = text[:max_chars]
    return text, source


def build_char_corpus(text: str, val_fraction: float, min_split_chars: int) -> CharCorpus:
    """Encode `text` by its sorted character set and split it by position.

    Raises InputError when either split is shorter than `min_split_chars` (one training window plus its target).
    """
    if not 0.0 < val_fraction < 1.0:
        raise InputError(f"val_fraction {val_fraction} is out of range; the allowed range is (0, 1)", field="data.val_fraction")
    vocab = "".join(sorted(set(text)))
    lookup = {ch: i for i, ch in enumerate(vocab)}
    tokens = np.fromiter((lookup[ch] for ch in text), dtype=np.int64, count=len(text))
    cut = int(len(tokens) * (1.0 - val_fraction))
    train, val = tokens[:cut], tokens[cut:]
    if min(len(train), len(val)) < min_split_chars:
        raise InputError(
            f"corpus of {len(text)} characters gives splits of {len(train)} and {len(val)} characters, "
            f"below the {min_split_chars} one window needs",
            field="data.max_chars", hint="Use a longer text, a larger data.max_chars or a shorter data.seq_len",
        )
    return CharCorpus(vocab=vocab, train=train, val=val)


def char_corpus_arrays(corpus: CharCorpus) -> dict[str, np.ndarray]:
    """Return the arrays that `load_char_corpus` reads back from an .npz file."""
    return {"vocab": np.array(corpus.vocab), "train": corpus.train, "val": corpus.val}


def load_char_corpus(path: Path) -> CharCorpus:
    with np.load(path) as arrays:
        return CharCorpus(vocab=str(arrays["vocab"]), train=arrays["train"], val=arrays["val"])


@dataclass(frozen=True)
class ImageSplit:
    """Images (N, H, W) as float32 in [0, 1] with integer labels, split into train and validation."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(max(self.train_y.max(), self.val_y.max())) + 1


def load_digits_split(val_fraction: float, seed: int) -> ImageSplit:
    """Return scikit-learn's digits (1797 images of 8x8 pixels, 16 grey levels), split with stratification."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    train_x, val_x, train_y, val_y = train_test_split(
        images, digits.target.astype(np.int64), test_size=val_fraction, random_state=seed, stratify=digits.target
    )
    return ImageSplit(train_x, train_y, val_x, val_y)


def image_split_arrays(split: ImageSplit) -> dict[str, np.ndarray]:
    """Return the arrays that `load_image_split` reads back from an .npz file."""
    return {"train_x": split.train_x, "train_y": split.train_y, "val_x": split.val_x, "val_y": split.val_y}


def load_image_split(path: Path) -> ImageSplit:
    with np.load(path) as arrays:
        return ImageSplit(arrays["train_x"], arrays["train_y"], arrays["val_x"], arrays["val_y"])
