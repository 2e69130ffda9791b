"""Tests for tal_detection.utils.io_util (atomic output)."""
import json
import os

import pytest

from tal_detection.utils import io_util


def test_write_text_and_json_create_folders_and_leave_no_temporary(tmp_path):
  path = str(tmp_path / 'a' / 'b' / 'out.txt')
  assert io_util.write_text(path, 'hello\n') == path
  assert open(path).read() == 'hello\n'
  json_path = str(tmp_path / 'a' / 'm.json')
  io_util.write_json(json_path, {'x': [1, 2]})
  assert json.load(open(json_path)) == {'x': [1, 2]}
  assert open(json_path).read().endswith('\n')
  assert sorted(os.listdir(tmp_path / 'a')) == ['b', 'm.json']
  assert os.listdir(tmp_path / 'a' / 'b') == ['out.txt']


def test_a_failing_block_keeps_the_old_file_and_removes_the_temporary(
    tmp_path):
  path = str(tmp_path / 'out.json')
  io_util.write_text(path, 'old')
  with pytest.raises(RuntimeError):
    with io_util.atomic_open(path) as f:
      f.write('half')
      raise RuntimeError('writer failed')
  assert open(path).read() == 'old'
  assert os.listdir(tmp_path) == ['out.json']
  with pytest.raises(KeyboardInterrupt):
    with io_util.atomic_path(str(tmp_path / 'new.bin')) as tmp:
      open(tmp, 'wb').write(b'x')
      raise KeyboardInterrupt
  assert os.listdir(tmp_path) == ['out.json']


def test_atomic_path_renames_what_another_writer_wrote(tmp_path):
  path = str(tmp_path / 'picture.png')
  with io_util.atomic_path(path) as tmp:
    assert os.path.dirname(tmp) == str(tmp_path)
    assert os.path.basename(tmp).startswith('.picture.png.tmp-')
    assert not os.path.exists(path)
    with open(tmp, 'wb') as f:
      f.write(b'\x89PNG')
  assert open(path, 'rb').read() == b'\x89PNG'
  assert os.listdir(tmp_path) == ['picture.png']


def test_temporary_names_are_unique_and_umask_permissions_apply(tmp_path):
  path = str(tmp_path / 'x')
  assert io_util.temporary_path(path) != io_util.temporary_path(path)
  old = os.umask(0o022)
  try:
    io_util.write_text(path, 'x')
  finally:
    os.umask(old)
  assert os.stat(path).st_mode & 0o777 == 0o644
  with pytest.raises(ValueError, match='whole files'):
    with io_util.atomic_open(path, 'a'):
      pass


def test_last_line_is_the_last_non_blank_one(tmp_path):
  log = tmp_path / 'stage.log'
  log.write_text('starting\n  stage failed: bad input  \n\n   \n')
  assert io_util.last_line(str(log)) == 'stage failed: bad input'
  log.write_text('\n \n')
  assert io_util.last_line(str(log)) == '(empty log)'
  log.write_bytes(b'ok\n\xff broken utf-8\n')
  assert io_util.last_line(str(log)) == '\ufffd broken utf-8'
  assert io_util.last_line(str(tmp_path / 'missing.log')) == '(no log)'
