"""A folder ipmix writes into, where nothing can land outside it (SPEC §6).

Every write, rename and delete under a :class:`SafeFolder` goes through file descriptors of its sub-folders,
opened one component at a time with ``O_NOFOLLOW``: a symbolic link anywhere below the folder (a sub-folder of
OUT that leads into IN, a link swapped in between a check and a write) makes the operation fail instead of
following it. Names read back from files (manifests, journals, run records) are checked by
:func:`clean_relative` before they are used, so ``../victim`` or ``/etc/passwd`` never name anything.

Files are written to a temporary name in their folder and renamed into place, so no partial file ever has a
final name. Temporaries end in ``.tmp``: no image reader (torchvision's ``ImageFolder``, Hugging Face's
``imagefolder``) mistakes one for a sample while a run is writing.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from ..errors import InputFailure
from ..items import name_bytes, name_text
from .atomic import FILE_MODE, TEMP_PREFIX, count_write, next_temporary_name

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


#: Sub-folders this process made or found (per folder identity): no mkdir attempt for every write. Opening
#: them still never follows a link, so a folder replaced by a link after it was made is still refused.
_MADE: set = set()

#: Sub-folder descriptors a :meth:`SafeFolder.session` keeps open at most (further folders are opened and closed
#: at each use, as outside a session: a held descriptor may still be in use by an unfinished write).
_HELD_FOLDERS = 64


class Entry:
    """A directory entry of :meth:`SafeFolder.walk`: ``os.DirEntry``'s methods, with the name as text
    (``items.name_text``)."""

    __slots__ = ("name", "_entry")

    def __init__(self, name: str, entry: os.DirEntry):
        self.name, self._entry = name, entry

    def __getattr__(self, attribute: str):
        return getattr(self._entry, attribute)


class UnsafePath(InputFailure, ValueError):
    """A relative name that could lead outside its folder (absolute, ``..``, NUL, empty parts)."""


class FolderError(OSError):
    """A folder that cannot be made or used; the message names the path and the fix."""


def clean_relative(name: str) -> tuple[str, ...]:
    """The parts of a relative POSIX name that stays inside its folder, or :class:`UnsafePath`."""
    if not isinstance(name, str) or not name:
        raise UnsafePath(f"{name!r} is not a file name")
    if "\0" in name:
        raise UnsafePath(f"{name!r} contains a NUL byte")
    if name.startswith("/"):
        raise UnsafePath(f"{name!r} is an absolute path")
    parts = tuple(name.split("/"))
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePath(f"{name!r} has an empty, '.' or '..' part")
    return parts


def describe_os_error(error: OSError, path: str) -> str:
    """One line for an ``OSError`` on ``path``, with the fix where there is an obvious one."""
    reason = error.strerror or str(error)
    fixes = {
        errno.ENOSPC: "free some space, then re-run the same command to resume",
        errno.EDQUOT: "free some space (disk quota exceeded), then re-run the same command to resume",
        errno.EROFS: "the file system is read-only; choose an output folder on a writable one",
        errno.EACCES: "you have no permission to write there; choose another folder or change its permissions",
        errno.EPERM: "the operation is not permitted there; choose another folder",
        errno.ELOOP: "ipmix never writes through symbolic links below its output folder: remove the link",
        errno.ENOTDIR: "a file is in the way of a folder there; move it or choose another folder",
        errno.EISDIR: "a folder is in the way of a file there; move it or choose another folder",
        errno.ENAMETOOLONG: "the name is too long for the file system; shorten the input's name",
    }
    fix = fixes.get(error.errno)
    return f"{path}: {reason}" + (f" ({fix})" if fix else "")


#: Errors that are faults of the whole run (no later write can succeed either), not of one input.
RUN_FAULT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})


def make_folder(path: str | Path) -> Path:
    """Make the folder ``path`` (and its missing parents) if needed; return its resolved path, or
    :class:`FolderError` with the path and the fix.

    ``path`` means what the kernel makes of it: every component that exists is resolved as a system call would
    (``..`` after an existing folder, or a link, goes where it leads). Only the missing tail is made, one folder
    at a time, so nothing is ever created off the way to ``path``: a ``..`` after a component that does not exist
    (``nonexist/../out``) names nothing, and is refused rather than read lexically (``os.makedirs`` and
    ``mkdir -p`` would make ``nonexist/`` beside OUT; a lexical reading would differ from the kernel's
    wherever a component is a link).
    """
    given = os.fsencode(path)
    parts = given.split(b"/")
    root = b"/" if given.startswith(b"/") else b""
    existing = 0  # how many leading components name something that exists
    for count in range(len(parts), 0, -1):
        prefix = root + b"/".join(part for part in parts[:count] if part)
        if prefix and os.path.exists(prefix):
            existing = count
            break
    missing = [part for part in parts[existing:] if part not in (b"", b".")]
    if b".." in missing:
        last = root + b"/".join(part for part in parts[:existing] if part)
        if last and not os.path.isdir(last):
            raise FolderError(
                errno.ENOTDIR, f"{path}: {os.fsdecode(last)} is not a folder; choose another output folder"
            )
        first = (root + b"/".join(part for part in parts[: existing + 1] if part)).decode("utf-8", "replace")
        raise FolderError(
            errno.ENOENT,
            f"{path}: {first} does not exist, so the '..' after it leads nowhere (ipmix makes no folder off the "
            f"way to OUT); give the folder without '..', e.g. {os.path.normpath(str(path))}",
        )
    current = root + b"/".join(part for part in parts[:existing] if part)
    for part in missing:
        current = os.path.join(current, part) if current else part
        try:
            os.mkdir(current)
        except FileExistsError:
            if not os.path.isdir(current):
                raise FolderError(
                    errno.ENOTDIR, f"{os.fsdecode(current)} exists and is not a folder; choose another output folder"
                ) from None
        except OSError as error:
            raise FolderError(error.errno, describe_os_error(error, str(path))) from None
    real = Path(os.path.realpath(path))
    if not real.is_dir():
        raise FolderError(errno.ENOTDIR, f"{path} is not a folder; choose another output folder")
    return real


class SafeFolder:
    """Writes, renames and deletes confined to one folder (see the module docstring).

    The folder's identity (device, inode) is fixed when it is opened: a worker attaching later to the same path
    checks it still names the same folder, so replacing OUT during a run cannot redirect writes.
    """

    def __init__(self, path: str | Path, identity: tuple[int, int] | None = None):
        self.path = Path(os.path.realpath(path))
        try:
            fd = os.open(self.path, _DIR_FLAGS)
        except OSError as error:
            raise FolderError(error.errno, describe_os_error(error, str(path))) from None
        try:
            info = os.fstat(fd)
        finally:
            os.close(fd)
        self.identity = (info.st_dev, info.st_ino)
        self._local = threading.local()
        if identity is not None and tuple(identity) != self.identity:
            raise FolderError(errno.ESTALE, f"{path} was replaced by another folder while ipmix was using it")

    def __reduce__(self):
        return SafeFolder, (str(self.path), self.identity)

    def __repr__(self) -> str:
        return f"SafeFolder({str(self.path)!r})"

    # --- folders ---------------------------------------------------------------------------------------

    @contextmanager
    def _folder(self, parts: tuple[str, ...], create: bool) -> Iterator[int]:
        """A descriptor of the sub-folder ``parts``, reached without following any link (held open for the rest
        of a :meth:`session`)."""
        held = getattr(self._local, "held", None)
        fd = None if held is None else held.get(parts)
        if fd is not None:
            yield fd
            return
        fd = self._open_folder(parts, create)
        if held is not None and len(held) < _HELD_FOLDERS:  # held ones close only when the session ends
            held[parts] = fd
            yield fd
            return
        try:
            yield fd
        finally:
            os.close(fd)

    @contextmanager
    def session(self) -> Iterator[None]:
        """Within the block, each sub-folder is reached once and its descriptor kept for later writes, stats and
        reads in it (this thread's only): writing a run's outputs folder by folder costs no folder walks.

        The containment is the same: every folder was reached component by component without following a
        link, and a write into one never follows a link. A folder replaced during the block is not seen until
        the block ends (a task of a worker, a fraction of a second); a folder removed is reached again."""
        if getattr(self._local, "held", None) is not None:  # nested: the outer block holds them
            yield
            return
        self._local.held = {}
        try:
            yield
        finally:
            held, self._local.held = self._local.held, None
            self._release(held)

    @staticmethod
    def _release(held: dict) -> None:
        for fd in held.values():
            os.close(fd)
        held.clear()

    def _forget(self, parts: tuple[str, ...]) -> bool:
        """Drop the held descriptor of ``parts`` (a folder removed meanwhile); whether there was one."""
        held = getattr(self._local, "held", None)
        fd = None if held is None else held.pop(parts, None)
        if fd is None:
            return False
        os.close(fd)
        return True

    def _open_folder(self, parts: tuple[str, ...], create: bool) -> int:
        """See :meth:`_folder`; the caller closes the descriptor."""
        fd = os.open(self.path, _DIR_FLAGS)
        try:
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) != self.identity:
                raise FolderError(errno.ESTALE, f"{self.path} was replaced by another folder during the run")
            for depth, part in enumerate(parts):
                if create and (self.identity, parts[: depth + 1]) not in _MADE:
                    try:
                        os.mkdir(name_bytes(part), 0o777, dir_fd=fd)
                    except FileExistsError:
                        pass
                    _MADE.add((self.identity, parts[: depth + 1]))
                try:
                    try:
                        child = os.open(name_bytes(part), _DIR_FLAGS, dir_fd=fd)
                    except FileNotFoundError:
                        if not create:
                            raise
                        os.mkdir(name_bytes(part), 0o777, dir_fd=fd)  # removed since this process made it
                        child = os.open(name_bytes(part), _DIR_FLAGS, dir_fd=fd)
                except OSError as error:
                    raise self._explained(error, fd, part, parts[: depth + 1]) from None
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _explained(self, error: OSError, parent: int, part: str, parts: tuple[str, ...]) -> OSError:
        """``error`` from opening a sub-folder, naming the full path and saying when a link is the cause
        (Linux reports a link opened with O_DIRECTORY | O_NOFOLLOW as "not a directory")."""
        path = self._full(parts)
        if error.errno in (errno.ENOTDIR, errno.ELOOP):
            try:
                if stat.S_ISLNK(os.stat(name_bytes(part), dir_fd=parent, follow_symlinks=False).st_mode):
                    return OSError(errno.ELOOP, "a symbolic link is in the way", path)
            except OSError:
                pass
        return OSError(error.errno, error.strerror, path)

    def _full(self, parts: tuple[str, ...]) -> str:
        """The full path of ``parts``, for messages (made only when one is needed: writes are hot)."""
        return os.path.join(self.path, *parts)

    # --- writing ---------------------------------------------------------------------------------------

    def write_bytes(self, name: str, data: bytes) -> os.stat_result:
        """Write ``data`` to ``name`` atomically (temporary, then rename); returns the written file's stat.

        Written with ``os.write`` on the descriptor (no file object: each output is one call, and a file object
        costs three system calls to set up), and stat'ed through it after the rename.
        """
        with self._temporary_in(clean_relative(name)) as (folder, temporary, fd, final):
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.rename(temporary, name_bytes(final), src_dir_fd=folder, dst_dir_fd=folder)
                return os.fstat(fd)
            finally:
                os.close(fd)

    @contextmanager
    def open_new(self, name: str) -> Iterator[BinaryIO]:
        """A binary stream whose content replaces ``name`` when the block ends without an exception.

        The stream's ``final_stat`` holds the stat of the renamed file afterwards. On an exception the
        temporary is removed and ``name`` is left as it was. ``OSError``s name the full path of ``name``.
        """
        with self._temporary_in(clean_relative(name)) as (folder, temporary, fd, final):
            with os.fdopen(fd, "wb") as stream:
                yield stream
            os.rename(temporary, name_bytes(final), src_dir_fd=folder, dst_dir_fd=folder)
            stream.final_stat = os.stat(name_bytes(final), dir_fd=folder, follow_symlinks=False)  # type: ignore

    @contextmanager
    def _temporary_in(self, parts: tuple[str, ...]) -> Iterator[tuple[int, str, int, str]]:
        """(folder descriptor, temporary name, its descriptor, final name) for writing ``parts``: the block
        writes the temporary and renames it to the final name. On an exception the temporary is removed, and
        an ``OSError`` names the full path of ``parts``. A held folder removed meanwhile is reached again."""
        for attempt in range(2):
            with self._folder(parts[:-1], create=True) as folder:
                try:
                    temporary, fd = self._create_temporary(folder)
                except FileNotFoundError as error:
                    if attempt == 0 and self._forget(parts[:-1]):
                        continue  # a held folder was removed meanwhile: reach it again (made anew)
                    raise OSError(error.errno, error.strerror, self._full(parts)) from None
                except OSError as error:
                    raise OSError(error.errno, error.strerror, self._full(parts)) from None
                try:
                    yield folder, temporary, fd, parts[-1]
                except BaseException as error:
                    try:
                        os.unlink(temporary, dir_fd=folder)
                    except OSError:
                        pass
                    if isinstance(error, OSError) and not isinstance(error, FolderError):
                        raise OSError(error.errno, error.strerror, self._full(parts)) from None
                    raise
            count_write()
            return

    @staticmethod
    def _create_temporary(folder: int) -> tuple[str, int]:
        for _ in range(100):
            temporary = next_temporary_name()
            try:
                return temporary, os.open(temporary, _NEW_FILE_FLAGS, 0o666, dir_fd=folder)
            except FileExistsError:  # a leftover of an earlier process with this token: take the next name
                continue
        raise FolderError(errno.EEXIST, "could not create a temporary file")

    def append_text(self, name: str, text: str) -> None:
        """Append ``text`` to ``name`` (made if missing), never following a link."""
        with self.open_append(name) as append:
            append(text)

    @contextmanager
    def open_append(self, name: str) -> Iterator[Callable[[str], None]]:
        """A function appending text to ``name`` (made if missing, never through a link or into a file with
        another name), for a writer that appends many times: the file stays open, and each append first checks
        that ``name`` still names it with no other name (a removed or replaced file is opened again, a hard
        link made meanwhile is refused), as a fresh open would."""
        parts = clean_relative(name)
        full = self._full(parts)

        def opened() -> int:
            with self._folder(parts[:-1], create=True) as folder:
                # O_NONBLOCK: a FIFO planted under the name fails at once (then is refused) instead of waiting
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
                try:
                    fd = os.open(name_bytes(parts[-1]), flags, FILE_MODE, dir_fd=folder)
                except OSError as error:
                    if error.errno == errno.ENXIO:  # a FIFO without a reader
                        raise FolderError(errno.EINVAL, f"{full} is not a regular file; remove it") from None
                    raise OSError(error.errno, error.strerror, full) from None
                os.set_blocking(fd, True)
                return fd

        fd = opened()
        fresh = True  # just opened through its name: nothing to check again
        try:

            def append(text: str) -> None:
                nonlocal fd, fresh
                if not fresh:
                    info, named = os.fstat(fd), self.stat(name)
                    if named is None or (named.st_dev, named.st_ino) != (info.st_dev, info.st_ino):
                        os.close(fd)
                        fd = -1
                        fd = opened()
                fresh = False
                refuse_shared_file(fd, full)
                data = text.encode("utf-8")
                while data:
                    data = data[os.write(fd, data) :]

            yield append
        finally:
            if fd >= 0:
                os.close(fd)

    # --- reading and deleting ----------------------------------------------------------------------------

    def stat(self, name: str) -> os.stat_result | None:
        """The stat of ``name`` itself (a link is not followed), or None when it (or a folder on the way) is
        missing, not a folder, or a link."""
        parts = clean_relative(name)
        try:
            with self._folder(parts[:-1], create=False) as folder:
                return os.stat(name_bytes(parts[-1]), dir_fd=folder, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            if error.errno == errno.ELOOP:
                return None
            raise

    def is_file(self, name: str) -> bool:
        info = self.stat(name)
        return info is not None and stat.S_ISREG(info.st_mode)

    @contextmanager
    def open_read(self, name: str) -> Iterator[BinaryIO]:
        """``name`` opened for reading; a link or a non-regular file is an ``OSError``."""
        parts = clean_relative(name)
        with self._folder(parts[:-1], create=False) as folder:
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(name_bytes(parts[-1]), flags, dir_fd=folder)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise OSError(errno.EINVAL, f"{name} is not a regular file")
            with os.fdopen(fd, "rb") as stream:
                yield stream

    def read_bytes(self, name: str) -> bytes:
        with self.open_read(name) as stream:
            return stream.read()

    def read_text(self, name: str) -> str | None:
        """The UTF-8 text of ``name``, or None when it is missing or unreadable."""
        try:
            return self.read_bytes(name).decode("utf-8")
        except (OSError, UnicodeDecodeError, UnsafePath):
            return None

    def remove(self, name: str) -> bool:
        """Delete the file ``name`` (a link is removed itself, never its target); whether it existed."""
        parts = clean_relative(name)
        try:
            with self._folder(parts[:-1], create=False) as folder:
                info = os.stat(name_bytes(parts[-1]), dir_fd=folder, follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    return False
                os.unlink(name_bytes(parts[-1]), dir_fd=folder)
                return True
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as error:
            if error.errno == errno.ELOOP:
                return False
            raise

    def remove_empty_folder(self, name: str) -> None:
        parts = clean_relative(name)
        try:
            with self._folder(parts[:-1], create=False) as folder:
                os.rmdir(name_bytes(parts[-1]), dir_fd=folder)
        except OSError:
            pass

    def walk(self, recursive: bool = True) -> Iterator[tuple[str, "Entry"]]:
        """(relative POSIX name, entry) of every file and link below the folder (only those directly in it
        when not ``recursive``); links are not followed. Names are read as bytes and held as ipmix holds every
        name (``items.name_text``: UTF-8 whatever the locale), so they match the names ipmix wrote."""
        stack = [""]
        base = os.fsencode(self.path)
        while stack:
            prefix = stack.pop()
            try:
                with os.scandir(os.path.join(base, name_bytes(prefix)) if prefix else base) as entries:
                    for entry in entries:
                        name = f"{prefix}{name_text(entry.name)}"
                        if entry.is_dir(follow_symlinks=False):
                            if recursive:
                                stack.append(name + "/")
                        else:
                            yield name, Entry(name.rpartition("/")[2], entry)
            except OSError:
                continue

    def sweep_temporaries(self) -> int:
        """Remove temporaries whose writers died (see ``atomic.is_abandoned``); returns how many."""
        from .atomic import is_abandoned

        removed = 0
        found = [(name, entry) for name, entry in self.walk() if entry.name.startswith(TEMP_PREFIX)]
        for name, entry in found:  # only the temporaries are held: OUT may hold millions of files
            if entry.is_file(follow_symlinks=False):
                try:
                    if is_abandoned(entry.name, entry.stat(follow_symlinks=False).st_mtime):
                        removed += self.remove(name)
                except OSError:  # renamed or removed by its writer meanwhile
                    continue
        return removed


def refuse_shared_file(fd: int, path: str) -> None:
    """Refuse to change a file in place unless it is a regular file with one name: a hard link planted in OUT
    (say ``.ipmix.lock`` linked to an input) would otherwise let ipmix write into a file outside OUT."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise FolderError(errno.EINVAL, f"{path} is not a regular file; remove it")
    if info.st_nlink != 1:
        raise FolderError(
            errno.EMLINK, f"{path} is a hard link to another file; remove it (ipmix will not write into it)"
        )


def is_inside(path: Path, folder: Path) -> bool:
    """Whether resolved ``path`` is ``folder`` or lies below it (both already resolved)."""
    return path == folder or folder in path.parents
