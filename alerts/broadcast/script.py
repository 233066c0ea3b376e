"""The broadcast version of a spoken text: an attention call, the text read twice, an end.

It adds only these fixed sentences to the reviewed spoken text, so the spoken template's review is
its review (and the fixed sentences are reviewed here, in code).
"""

from __future__ import annotations

ATTENTION = "各位村民请注意，各位村民请注意，现在播送一条预警信息。"
AGAIN = "再播送一遍。"
END = "播送完毕。"


def broadcast_script(spoken: str) -> str:
    """The loudspeaker script, one sentence group a line (printable, and read as it is)."""
    text = spoken.strip()
    return "\n".join([ATTENTION, text, AGAIN, text, END])
