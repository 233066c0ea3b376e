"""Voice script rules: what a text-to-speech template may hold and how long it may take to read."""

from __future__ import annotations

import re

# Issue 17: a spoken version takes about 30 to 45 seconds. Read at about 4 characters a second
# (punctuation counted, as each mark is a pause), that is 120 to 180 characters, measured with the
# longest values a context can hold; below the minimum the advice is too thin to be worth a call.
VOICE_MIN_CHARS = 120
VOICE_MAX_CHARS = 180
# The key action is said twice (a listener may have missed it the first time).
REPEAT_PHRASE = "再说一遍"
# Pauses a voice reads naturally; anything else (digits, Latin letters, brackets, symbols such as
# ℃ or /) is misread, spelt out or skipped by a TTS engine.
SPEAKABLE_PUNCTUATION = frozenset("，。、；：！？")
BRACKETS = frozenset("()（）[]【】{}《》〈〉「」『』<>“”‘’\"'")
# Registered TTS templates (Aliyun SingleCallByTts) hold named parameters and nothing else: no
# logic, no filters, and two parameters side by side cannot be told apart by the provider.
PLAIN_VARIABLE = re.compile(r"\{\{\s*[a-z_]+\s*\}\}")
ANY_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
ADJACENT_VARIABLES = re.compile(r"\}\}\s*\{\{")


def is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def spoken_length(text: str) -> int:
    """Characters read aloud (pauses included), whitespace excluded."""
    return sum(1 for c in text if not c.isspace())


def source_problems(source: str) -> list[str]:
    """What the template source holds that a registered TTS template cannot."""
    problems: list[str] = []
    if "{%" in source or "{#" in source:
        problems.append("holds {% %} logic or a {# #} comment: a spoken template is registered with the provider "
                        "as fixed words and plain {{ name }} variables; write one template per case instead")
    for expression in ANY_EXPRESSION.findall(source):
        if not PLAIN_VARIABLE.fullmatch(expression):
            problems.append(f"{expression!r} is not a plain variable: use {{{{ name }}}} without filters, "
                            "attributes or expressions")
    if ADJACENT_VARIABLES.search(source):
        problems.append("two variables stand next to each other: put a word between them (于, 的, a comma) so the "
                        "provider can tell them apart")
    return problems


def text_problems(text: str) -> list[str]:
    """What a rendered script holds that a voice would misread, and whether its length fits."""
    problems: list[str] = []
    digits = sorted({c for c in text if c.isdigit()})
    if digits:
        problems.append(f"holds digits {''.join(digits)!r}: write numbers as spoken (幺幺九, 一二零, 三十五度)")
    latin = sorted({c for c in text if c.isascii() and c.isalpha() or "\uff21" <= c <= "\uff5a"})
    if latin:
        problems.append(f"holds Latin letters {''.join(latin)!r}: no abbreviations; say the words (一氧化碳, not CO)")
    brackets = sorted({c for c in text if c in BRACKETS})
    if brackets:
        problems.append(f"holds brackets or quotes {''.join(brackets)!r}: a listener cannot hear them; "
                        "say it as a sentence")
    others = sorted({c for c in text if not (c.isspace() or c.isdigit() or c.isalpha() or is_han(c)
                                              or c in SPEAKABLE_PUNCTUATION or c in BRACKETS)})
    if others:
        problems.append(f"holds symbols {''.join(others)!r} a voice cannot read; use words and "
                        f"{''.join(sorted(SPEAKABLE_PUNCTUATION))} only")
    length = spoken_length(text)
    if length > VOICE_MAX_CHARS:
        problems.append(f"{length} characters: about {length / 4:.0f} seconds read aloud; at most {VOICE_MAX_CHARS} "
                        "(45 seconds) with the longest values; shorten the advice")
    if length < VOICE_MIN_CHARS:
        problems.append(f"{length} characters: under {VOICE_MIN_CHARS} (about 30 seconds) with the longest values; "
                        "a call should carry the actions as well as the warning")
    if REPEAT_PHRASE not in text:
        problems.append(f"does not repeat its key action: end with {REPEAT_PHRASE}：…")
    return problems
