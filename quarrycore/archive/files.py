"""Opening a WARC file by path or by URL: local files directly, anything with a scheme
(``https://``, ``s3://``, ...) through fsspec, which reads ranges of a remote file on
demand, so a scan streams it and a record is read at its offset without downloading the
whole file. (``s3://`` and others need their fsspec package, e.g. ``s3fs``.)"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from quarrycore.exceptions import ConfigError

# Larger than one record: a scan reads ahead, a record read by offset costs one request.
_BLOCK = 4 * 1024 * 1024


def is_url(name: str) -> bool:
    return "://" in name and not name.startswith("file://")


def open_binary(name: str) -> IO[bytes]:
    """The file for reading (seekable)."""
    if not is_url(name):
        return open(name.removeprefix("file://"), "rb")
    import fsspec

    opened: Any = fsspec.open(name, "rb", block_size=_BLOCK).open()
    return opened  # type: ignore[no-any-return]


def size_of(name: str) -> int:
    """The file's size in bytes."""
    if not is_url(name):
        return Path(name.removeprefix("file://")).stat().st_size
    import fsspec

    fs, path = fsspec.core.url_to_fs(name)
    return int(fs.size(path))


def checked(name: str) -> str:
    """``name`` as the job keeps it (a local path made absolute), once found readable;
    a :class:`ConfigError` otherwise."""
    if not is_url(name):
        path = Path(name.removeprefix("file://")).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"no such WARC file: {path}")
        return str(path)
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(name)
        found = fs.exists(path)
    except ImportError as exc:
        raise ConfigError(f"cannot read {name}: {exc} (install the fsspec package for it)") from exc
    except Exception as exc:  # fsspec's own errors, by backend
        raise ConfigError(f"cannot reach {name}: {type(exc).__name__}: {exc}") from exc
    if not found:
        raise ConfigError(f"no such WARC file: {name}")
    return name
