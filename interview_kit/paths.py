"""Where the shipped data (scenarios, prompts) lives, for an editable checkout and an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(kind: str) -> Path:
    """Return the folder of shipped files of one kind ("scenarios", "prompts", ...).

    A wheel carries them in ``interview_kit/_data``; a source checkout has them in ``data/``.
    """
    for root in (_PACKAGE / "_data", _PACKAGE.parent / "data"):
        if (root / kind).is_dir():
            return root / kind
    raise FileNotFoundError(f"no shipped {kind!r} folder found beside {_PACKAGE}")


def resolve_named_file(name_or_path: str | Path, kind: str, suffix: str = ".toml") -> Path:
    """Resolve a name such as ``slow-report`` or a path to a file of the given kind, with a clear error."""
    candidate = Path(name_or_path)
    if candidate.suffix == suffix and candidate.is_file():
        return candidate
    shipped = data_dir(kind)
    named = shipped / f"{name_or_path}{suffix}"
    if named.is_file():
        return named
    if candidate.is_file():
        return candidate
    known = ", ".join(sorted(p.stem for p in shipped.glob(f"*{suffix}")))
    raise FileNotFoundError(f"no {kind[:-1]} named {str(name_or_path)!r} (a path, or one of: {known})")
