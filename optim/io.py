"""Atomic file output: write to a temporary file in the same folder, then rename."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write ``text`` (str or bytes) to ``path`` so that readers see the old file or the whole new
    one, never half.

    Raises
    ------
    OSError
        The folder cannot be written; nothing is left behind.
    """
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent if str(p.parent) else ".")
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:  # a replaced file keeps its permissions; a new one gets the usual ones (mkstemp makes 0600)
            mode = os.stat(p).st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def check_output_path(path: str | Path, what: str = "output") -> None:
    """Refuse, before any work, an output path that cannot be written.

    Raises
    ------
    InvalidInstanceError
        Naming the path and why: its folder is missing or not writable, or it is a folder.
    """
    from .errors import InvalidInstanceError

    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise InvalidInstanceError(f"{what}: {str(p)!r} is a folder; expected a file path")
    if not folder.is_dir():
        raise InvalidInstanceError(f"{what}: folder {str(folder)!r} of {str(p)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise InvalidInstanceError(f"{what}: folder {str(folder)!r} is not writable")


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Serialise ``data`` as indented JSON and write it atomically."""
    write_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def save_figure_atomic(fig: Any, path: str | Path, dpi: int = 120) -> None:
    """Save a matplotlib figure atomically; the format follows the file suffix (png, pdf, svg)."""
    import io

    buf = io.BytesIO()
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    fig.savefig(buf, format=fmt, dpi=dpi)
    write_atomic(path, buf.getvalue())


def read_yaml(path: str | Path, what: str = "YAML file") -> Any:
    """Read a YAML (or JSON) file safely: no Python objects, no anchors or aliases.

    Anchors and aliases are refused because they are what "billion laughs" bombs are made of.

    Raises
    ------
    InvalidInstanceError
        Unreadable file, undecodable text or malformed YAML, naming the path and the reason.
    """
    import yaml

    from .errors import InvalidInstanceError
    from .instance import decode_text, read_text_file

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(None, None, "anchors and aliases are not supported; write the "
                                                  "values out", event.start_mark)
            return super().compose_node(parent, index)

    p = Path(path)
    text = decode_text(read_text_file(p, what), str(p))
    try:
        return yaml.load(text, Loader=NoAliasLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as err:
        raise InvalidInstanceError(f"not valid YAML/JSON: {err}", str(p)) from None
    except RecursionError:
        raise InvalidInstanceError(f"nested too deeply; expected a {what}", str(p)) from None
