"""Audio for loudspeakers with an offline engine: espeak-ng's Mandarin voice, then sox to 16 kHz mono
16-bit WAV, which broadcast controllers play as it is. Never run on a request: packages.py runs it in
the background."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from alerts.settings.channels import BroadcastSection


class AudioError(Exception):
    pass


def engine(cfg: BroadcastSection) -> str | None:
    """The engine's path, or None when it is not installed (then packages carry the script only)."""
    return shutil.which(cfg.espeak) if cfg.audio else None


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise AudioError(f"{Path(argv[0]).name} exited with {proc.returncode}: {err.decode(errors='replace')[:300]}")


async def render_wav(text: str, target: Path, cfg: BroadcastSection) -> None:
    """`text` read aloud into `target` (WAV, 16 kHz mono, 16-bit)."""
    espeak = engine(cfg)
    if espeak is None:
        raise AudioError(f"{cfg.espeak} is not installed (Debian: apt install espeak-ng)")
    target.parent.mkdir(parents=True, exist_ok=True)
    raw = target.with_suffix(".raw.wav")
    # The text goes on stdin, never on the command line (it is long, and it is data).
    proc = await asyncio.create_subprocess_exec(
        espeak, "-v", cfg.espeak_voice, "-s", str(cfg.words_per_minute), "-w", str(raw), "--stdin",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate(text.encode("utf-8"))
    if proc.returncode != 0 or not raw.exists():
        raise AudioError(f"espeak-ng exited with {proc.returncode}: {err.decode(errors='replace')[:300]}")
    sox = shutil.which("sox")
    if sox is None:
        raw.replace(target)  # espeak-ng's own WAV (22,050 Hz mono) still plays everywhere
        return
    try:
        await _run(sox, str(raw), "-r", "16000", "-c", "1", "-b", "16", str(target))
    finally:
        raw.unlink(missing_ok=True)
