"""Output files that appear complete or not at all, with the permissions the umask asks for.

Every file bert_tf writes for a user (results, configs, feature records, predictions, vectors)
goes through here. The content is written under a temporary name beside the target and moved
over it only once it is complete, so a crash, a kill or a full disk never leaves a half-written
file that looks whole; the previous file, if any, stays as it was until then.

- Local paths: a temporary file in the same folder, then `os.replace` (atomic on POSIX). The
  file gets mode 0666 less the process umask, like a file `open()` creates.
- Paths with a scheme (`gs://`, `ram://`, ...) go through `tf.io.gfile`: a temporary object beside
  the target, then `rename`. On Cloud Storage a rename is a copy then a delete, and an object
  becomes visible only once it is complete, so readers never see a partial file there either.

Example:
    >>> with atomic_output("out/eval_results.txt") as f:
    ...     f.write("eval_accuracy = 0.8\\n")
    >>> write_text_atomic("out/config.json", "{}")
"""

import contextlib
import errno
import os
import tempfile
import uuid

# What a write to a full disk, past a file-size limit or quota, or to a failing disk raises.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO)


def is_local(path) -> bool:
    return "://" not in os.fspath(path)


def current_umask() -> int:
    """The process umask, read without changing it (os.umask would, for a moment, in every
    thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """What `open(path, "w")` would give a new file: 0666 less the umask."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path` for any writer (TF's record writers included); when
    the block ends without an error the temporary file becomes `path`, else it is removed."""
    path = os.fspath(path)
    if is_local(path):
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".tmp-",
                                    suffix="-" + os.path.basename(path))
        os.close(fd)
        try:
            yield temp
            os.chmod(temp, file_mode())  # mkstemp makes 0600
            os.replace(temp, path)
        finally:
            if os.path.exists(temp):
                os.remove(temp)
        return
    import tensorflow as tf

    folder = os.path.dirname(path)
    if folder and not tf.io.gfile.exists(folder):
        tf.io.gfile.makedirs(folder)
    temp = f"{path}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        yield temp
        tf.io.gfile.rename(temp, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(temp):
            tf.io.gfile.remove(temp)


@contextlib.contextmanager
def atomic_output(path, binary: bool = False, encoding: str = "utf-8"):
    """Yields a file object to write; the file appears at `path` only when the block succeeds."""
    with atomic_path(path) as temp:
        if not is_local(path):
            import tensorflow as tf

            with tf.io.gfile.GFile(temp, "wb" if binary else "w") as handle:
                yield handle
            return
        try:
            with open(temp, "wb" if binary else "w", encoding=None if binary else encoding,
                      newline=None if binary else "\n") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())  # on disk before the rename makes it the file
        except OSError as error:
            # A failed write() names no file; the message should name the one being written.
            if error.errno in _WRITE_ERRNOS and error.filename is None:
                raise OSError(error.errno, error.strerror, path) from error
            raise


def write_text_atomic(path, text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically."""
    with atomic_output(path) as f:
        f.write(text)


def write_bytes_atomic(path, data: bytes) -> None:
    """Writes `data` to `path` atomically."""
    with atomic_output(path, binary=True) as f:
        f.write(data)
