"""The paper's ablation study (Tables 1-4): its rows and the models they train.

Every row is the main config (configs/thumos14_i3d_tal_net.config, BASE_CONFIG)
with a few text fragments of TrainEvalPipelineConfig merged over it, in order
(configs/ablations/*.config; config_util's override semantics, so a repeated
field such as `streams` replaces the base's list):

  Tables 1-3, reported once per stream: the stream's fragment (rgb_only /
    flow_only) first, then the row's own, e.g. Table 1 "Single" on RGB is
    rgb_only.config + spn_single.config;
  Table 4: rgb_only, flow_only, early_fusion, and "Late fusion" = no fragment.

Rows that are the same model name the same fragments (Table 1 "Multi+Dilated"
and Table 2 "SPN w/o context"; Table 2 "SPN w/ context" and Table 3 "SoI w/o
context"; Table 3 "SoI w/ context" and Table 4's single stream), so with both
streams the 20 rows are 14 distinct models. The planner merges the run's own
overrides (data, training budget, --config_override) and then deduplicates by
equality of the effective TrainEvalPipelineConfig protos, so two rows share a
model exactly when they would train the same thing.

The same model outside the study:
  tools/model_main.py --pipeline_config_path=configs/thumos14_i3d_tal_net.config \
      --config_override_file=configs/ablations/rgb_only.config \
      --config_override_file=configs/ablations/spn_single.config ...
"""
import collections
import os

from google.protobuf import text_format

from tal_detection.metrics import metric_names
from tal_detection.utils import config_util
from tal_detection.utils import config_validation

BASE_CONFIG = 'thumos14_i3d_tal_net.config'  # In configs/, beside ablations/.

# The stream fragment of each single-stream half of Tables 1-3.
STREAM_FRAGMENTS = collections.OrderedDict([('rgb', 'rgb_only.config'),
                                            ('flow', 'flow_only.config')])
STREAM_CHOICES = tuple(STREAM_FRAGMENTS) + ('both',)

AN_COLUMNS = (10, 20, 50, 100, 200)
TIOU_COLUMNS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)

# label: the table's row name; name: the row's id (with the table number and
# stream it names the row's model dir); stream: how Table 4 shows its input.
Variant = collections.namedtuple('Variant',
                                 ['label', 'name', 'fragments', 'stream'])
Table = collections.namedtuple('Table',
                               ['title', 'metric', 'per_stream', 'variants'])
# One row of one table: its stream(s), label, id and fragments (in merge order).
Row = collections.namedtuple('Row', ['table', 'stream', 'variant', 'name',
                                     'fragments'])


def _variant(label, name, fragments=(), stream=None):
  return Variant(label, name, tuple(fragments), stream)


TABLES = collections.OrderedDict([
    ('1', Table(
        'Table 1: receptive field alignment (SPN tower), AR@AN (%) of the '
        'first-stage proposals, tIoU 0.5:0.05:1.0', 'AR', True, (
            _variant('Single', 'spn_single', ['spn_single.config']),
            _variant('Single+TConv', 'spn_single_tconv',
                     ['spn_single_tconv.config']),
            _variant('Multi+TConv', 'spn_multi_tconv',
                     ['spn_multi_tconv.config']),
            _variant('Multi+Dilated', 'spn_multi_dilated',
                     ['context_off.config'])))),
    ('2', Table(
        'Table 2: context in proposal generation (SPN), AR@AN (%)', 'AR', True,
        (_variant('SPN w/o context', 'spn_context_off', ['context_off.config']),
         _variant('SPN w/ context', 'spn_context_on',
                  ['soi_context_off.config'])))),
    ('3', Table(
        'Table 3: context in action classification (SoI pooling), mAP (%) at '
        'tIoU', 'mAP', True,
        (_variant('SoI w/o context', 'soi_context_off',
                  ['soi_context_off.config']),
         _variant('SoI w/ context', 'soi_context_on')))),
    ('4', Table(
        'Table 4: feature fusion, mAP (%) at tIoU', 'mAP', False,
        (_variant('RGB', 'rgb_only', ['rgb_only.config'], 'rgb'),
         _variant('Flow', 'flow_only', ['flow_only.config'], 'flow'),
         _variant('Early fusion', 'early_fusion', ['early_fusion.config'],
                  'rgb+flow'),
         _variant('Late fusion', 'late_fusion', (), 'rgb+flow')))),
])


def columns(metric):
  """Column labels of a table of `metric` ('AR' or 'mAP'): AR@10 / mAP@0.1."""
  if metric == 'AR':
    return [metric_names.proposal_ar(an, short=True) for an in AN_COLUMNS]
  return [metric_names.detection_map(t, short=True) for t in TIOU_COLUMNS]


def parse_tables(tables):
  """The sorted distinct table numbers of a --tables list (ValueError if bad)."""
  tables = [t.strip() for t in tables if t.strip()]
  if not tables or any(t not in TABLES for t in tables):
    raise ValueError('--tables: expected a list of %s, got %s' % (
        ', '.join(TABLES), ','.join(tables)))
  return sorted(set(tables))


def selected_rows(tables, stream):
  """[Row] of the given tables in table order; stream: rgb, flow or both."""
  if stream not in STREAM_CHOICES:
    raise ValueError('--stream: expected one of %s, got %r' %
                     (', '.join(STREAM_CHOICES), stream))
  streams = tuple(STREAM_FRAGMENTS) if stream == 'both' else (stream,)
  rows = []
  for table in tables:
    spec = TABLES[table]
    for s in (streams if spec.per_stream else (None,)):
      for v in spec.variants:
        if s is None:
          rows.append(Row(table, v.stream, v.label,
                          'table%s_%s' % (table, v.name), v.fragments))
        else:
          rows.append(Row(table, s, v.label,
                          'table%s_%s_%s' % (table, s, v.name),
                          (STREAM_FRAGMENTS[s],) + v.fragments))
  return rows


def fragment_paths(row, configs_dir):
  return [os.path.join(configs_dir, f) for f in row.fragments]


def missing_fragments(rows, configs_dir):
  """Sorted names of the rows' fragments that are not files in configs_dir."""
  return sorted({f for row in rows for f in row.fragments
                 if not os.path.isfile(os.path.join(configs_dir, f))})


# ---------------------------------------------------------------------------
# The run's own overrides, merged over every row after its fragments.

# --quick only: every layer at 32 channels and a faster learning rate, so the
# smoke run takes seconds per model and still learns something.
QUICK_MODEL_OVERRIDE = """
model { tal_net {
  feature_reduction_depth: 32
  segment_proposal_network { depth: 32 }
  second_stage_fc_depth: 32
} }
train_config { optimizer { adam_optimizer { learning_rate {
  constant_learning_rate { learning_rate: 0.001 } } } } }
"""


def data_override(pipeline_config, stream_dim, num_classes):
  """Text override: the dataset's class count and the width of each stream."""
  streams = ' '.join('streams { name: "%s" feature_dim: %d }' % (name,
                                                                 stream_dim)
                     for name in config_util.get_stream_names(
                         pipeline_config.model))
  return 'model { tal_net { num_classes: %d %s } }' % (num_classes, streams)


def run_override(num_steps):
  """Text override: the training budget, one checkpoint, eval on every video."""
  log_every = max(1, min(100, num_steps // 10))
  return ('train_config { num_steps: %d save_checkpoints_steps: %d '
          'max_checkpoints_to_keep: 1 log_every_n_steps: %d '
          'save_summary_steps: %d random_seed: 1 } '
          'eval_config { num_examples: 0 num_visualizations: 0 }' %
          (num_steps, num_steps, log_every, log_every))


def effective_pipeline(base_config_path, fragments, dataset, num_steps,
                       quick=False, user_override=None):
  """The validated TrainEvalPipelineConfig one row trains with.

  Merge order: base, fragments, the data override (the dataset's classes and
  stream widths), the --quick model override, the run override (budget),
  user_override (--config_override), the dataset's record / label-map paths.

  Args:
    base_config_path: the main config.
    fragments: paths of the row's fragments, in merge order.
    dataset: dict with train_records, test_records, label_map, stream_dim,
      num_classes.
    num_steps: training steps.
    quick: merge QUICK_MODEL_OVERRIDE.
    user_override: optional text fragment merged over everything else.

  Raises:
    ConfigError: one line naming the file (or the override) at fault.
  """
  pipeline = config_util.load_pipeline(base_config_path,
                                       override_files=fragments,
                                       validate=False)
  config_util.merge_config_override(
      pipeline, data_override(pipeline, dataset['stream_dim'],
                              dataset['num_classes']), '<data override>')
  if quick:
    config_util.merge_config_override(pipeline, QUICK_MODEL_OVERRIDE,
                                      '<quick override>')
  config_util.merge_config_override(pipeline, run_override(num_steps),
                                    '<run override>')
  if user_override:
    config_util.merge_config_override(pipeline, user_override,
                                      '--config_override')
  config_util.merge_external_params_with_configs(
      config_util.create_configs_from_pipeline_proto(pipeline),
      {'train_input_path': dataset['train_records'],
       'eval_input_path': dataset['test_records'],
       'label_map_path': dataset['label_map']})
  config_validation.clear_fields_without_effect(pipeline)
  config_util.validate_pipeline_config(
      pipeline, ' + '.join(os.path.basename(p)
                           for p in [base_config_path] + list(fragments)))
  return pipeline


def plan_models(rows, configs_dir, base_config_path, dataset, num_steps,
                quick=False, user_override=None):
  """Effective configs per row, deduplicated into distinct models.

  Returns:
    (models, row_model): models is an ordered dict key -> {'pipeline' (the
    effective proto), 'text' (its text format), 'rows' [row names]}, keyed by
    the first row using that model; row_model maps each row name to its key.
  """
  models = collections.OrderedDict()
  row_model = {}
  for row in rows:
    if row.name in row_model:
      continue
    pipeline = effective_pipeline(base_config_path,
                                  fragment_paths(row, configs_dir), dataset,
                                  num_steps, quick, user_override)
    key = next((k for k, m in models.items() if m['pipeline'] == pipeline),
               None)
    if key is None:
      key = row.name
      models[key] = {'pipeline': pipeline,
                     'text': text_format.MessageToString(pipeline),
                     'rows': []}
    models[key]['rows'].append(row.name)
    row_model[row.name] = key
  return models, row_model
