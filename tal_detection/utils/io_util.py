"""Atomic file output: write under a temporary name, rename when complete.

Every tool that writes a result (json, pictures, configs, label maps, record
shards) goes through here, so an interrupted or failing run never leaves a
half-written file under the final name, and a failing run leaves no temporary
file either. Temporary names are `.<name>.tmp-<pid>-<n>` in the destination's
own folder (a rename within one file system is atomic). Files are opened with
plain open() so they get the usual umask-derived permissions (mkstemp would
give 0600).
"""
import contextlib
import itertools
import json
import os

_counter = itertools.count()


def temporary_path(path):
  """A fresh hidden temporary name beside path (same folder)."""
  directory, name = os.path.split(os.path.abspath(path))
  return os.path.join(directory, '.%s.tmp-%d-%d' % (name, os.getpid(),
                                                    next(_counter)))


def _remove_quietly(path):
  try:
    os.remove(path)
  except FileNotFoundError:
    pass


@contextlib.contextmanager
def atomic_path(path, make_dirs=True):
  """Yields a temporary path; renames it to `path` if the block succeeds.

  For writers that want a file name (TFRecordWriter, matplotlib savefig). On
  any exception the temporary file is removed and `path` is left untouched.
  """
  if make_dirs:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp_path = temporary_path(path)
  try:
    yield tmp_path
    os.replace(tmp_path, path)
  except BaseException:
    _remove_quietly(tmp_path)
    raise


@contextlib.contextmanager
def atomic_open(path, mode='w', encoding='utf-8', make_dirs=True):
  """Like open(path, mode) for writing, but the file appears only when complete."""
  if 'r' in mode or 'a' in mode or '+' in mode:
    raise ValueError('atomic_open writes whole files; mode %r' % mode)
  with atomic_path(path, make_dirs=make_dirs) as tmp_path:
    kwargs = {} if 'b' in mode else {'encoding': encoding}
    with open(tmp_path, mode, **kwargs) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())


def write_text(path, text, make_dirs=True):
  """Writes text to path atomically; returns path."""
  with atomic_open(path, 'w', make_dirs=make_dirs) as f:
    f.write(text)
  return path


def write_json(path, obj, indent=2, sort_keys=False, make_dirs=True):
  """Writes obj as json (newline-terminated) atomically; returns path."""
  text = json.dumps(obj, indent=indent, sort_keys=sort_keys) + '\n'
  return write_text(path, text, make_dirs=make_dirs)


def last_line(path):
  """The last non-blank line of a log file, stripped: what a failed
  subprocess said last. '(empty log)' / '(no log)' when there is none."""
  try:
    with open(path, encoding='utf-8', errors='replace') as f:
      lines = [l.strip() for l in f.read().splitlines() if l.strip()]
  except OSError:
    return '(no log)'
  return lines[-1] if lines else '(empty log)'
