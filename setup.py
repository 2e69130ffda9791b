"""Install tal-detection; compiles protos/*.proto into tal_detection/protos/*_pb2.py.

The generated modules are not checked in. They are produced here, at install time,
with grpcio-tools' bundled protoc, so `pip install .` and `pip install -e .` need no
protoc on PATH. The .proto files live in the top-level protos/ folder but import each
other as "tal_detection/protos/<name>.proto" (so the generated Python uses package
imports); we therefore stage them under a temporary tal_detection/protos/ tree.
"""
import glob
import os
import shutil
import tempfile

from setuptools import Command, find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop

HERE = os.path.dirname(os.path.abspath(__file__))

# TensorFlow is an extra, not a requirement: the CPU wheel and the CUDA one are
# different distributions that both install the `tensorflow` module, so
# requiring either would clash with the other. One version line for both
# (2.15.0's `and-cuda` extra also required tensorrt 8.6.1; 2.15.1 dropped it).
TENSORFLOW_VERSION = '>=2.15.1,<2.16'
TENSORFLOW_EXTRAS = {
    'cpu': ['tensorflow-cpu' + TENSORFLOW_VERSION],
    'gpu': ['tensorflow[and-cuda]' + TENSORFLOW_VERSION],
}
PROTO_SRC = os.path.join(HERE, 'protos')
PROTO_DST = os.path.join(HERE, 'tal_detection', 'protos')


def compile_protos():
  """Compiles every protos/*.proto into tal_detection/protos/*_pb2.py."""
  import grpc_tools  # pylint: disable=g-import-not-at-top
  from grpc_tools import protoc  # pylint: disable=g-import-not-at-top
  sources = sorted(glob.glob(os.path.join(PROTO_SRC, '*.proto')))
  if not sources:
    raise RuntimeError('no .proto files found in %s' % PROTO_SRC)
  os.makedirs(PROTO_DST, exist_ok=True)
  init = os.path.join(PROTO_DST, '__init__.py')
  if not os.path.exists(init):
    open(init, 'w').close()
  well_known = os.path.join(os.path.dirname(grpc_tools.__file__), '_proto')
  staging = tempfile.mkdtemp(prefix='tal_protos_')
  try:
    staged_dir = os.path.join(staging, 'tal_detection', 'protos')
    os.makedirs(staged_dir)
    staged = []
    for src in sources:
      dst = os.path.join(staged_dir, os.path.basename(src))
      shutil.copy(src, dst)
      staged.append(os.path.relpath(dst, staging))
    out_dir = tempfile.mkdtemp(prefix='tal_protos_out_')
    try:
      args = ['grpc_tools.protoc', '-I' + staging, '-I' + well_known,
              '--python_out=' + out_dir] + staged
      if protoc.main(args) != 0:
        raise RuntimeError('protoc failed on %s' % ' '.join(staged))
      for generated in glob.glob(
          os.path.join(out_dir, 'tal_detection', 'protos', '*_pb2.py')):
        # Write to a temporary name and rename, so an interrupted build never
        # leaves a half-written module behind.
        target = os.path.join(PROTO_DST, os.path.basename(generated))
        shutil.copy(generated, target + '.tmp')
        os.replace(target + '.tmp', target)
    finally:
      shutil.rmtree(out_dir, ignore_errors=True)
  finally:
    shutil.rmtree(staging, ignore_errors=True)


class BuildProtos(Command):
  """`python setup.py build_protos`: regenerate the _pb2 modules in place."""
  description = 'compile protos/*.proto into tal_detection/protos'
  user_options = []

  def initialize_options(self):
    pass

  def finalize_options(self):
    pass

  def run(self):
    compile_protos()


class BuildPyWithProtos(build_py):

  def run(self):
    compile_protos()
    super().run()


class DevelopWithProtos(develop):

  def run(self):
    compile_protos()
    super().run()


setup(
    name='tal-detection',
    version='0.1.0',
    description=('TAL-Net temporal action localization in the style of the '
                 'TensorFlow Object Detection API'),
    python_requires='>=3.9,<3.12',
    packages=find_packages(include=['tal_detection', 'tal_detection.*']),
    package_data={'tal_detection': ['data/*']},
    install_requires=[
        'tf-slim==1.1.0',
        'protobuf>=4.21,<5',
        'numpy<2',
        'absl-py>=1.0',
        'matplotlib>=3.5',
    ],
    # pip install ".[cpu]" or ".[gpu]" (exactly one), plus ",test" for pytest.
    extras_require=dict(TENSORFLOW_EXTRAS, test=['pytest>=7']),
    cmdclass={
        'build_protos': BuildProtos,
        'build_py': BuildPyWithProtos,
        'develop': DevelopWithProtos,
    },
)
