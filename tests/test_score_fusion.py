"""Tests of tal_detection/core/score_fusion.py and tools/fuse_video_scores.py."""
import json
import os
import subprocess
import sys

import pytest

from tal_detection.core import score_fusion

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO_ROOT, 'tools', 'fuse_video_scores.py')

DETECTIONS = {
    'version': 'VERSION 1.3',
    'external_data': {'used': False},
    'results': {
        'v1': [
            {'label': 'A', 'score': 0.9, 'segment': [1.0, 5.0]},
            {'label': 'B', 'score': 0.6, 'segment': [1.0, 5.0]},
            {'label': 'C', 'score': 0.5, 'segment': [10.0, 20.0]},
        ],
        'v2': [{'label': 'B', 'score': 0.4, 'segment': [0.0, 2.0]}],
    }}
VIDEO_SCORES = {'v1': {'A': 0.2, 'B': 0.7, 'C': 0.1},
                'v2': {'A': 0.5, 'B': 0.5, 'C': 0.9},
                'v3': {'A': 1.0}}


def _triples(entries):
  return [(e['label'], round(e['score'], 9), tuple(e['segment']))
          for e in entries]


def test_top_k_classes_orders_by_score_then_name():
  assert score_fusion.top_k_classes(VIDEO_SCORES['v1'], 2) == [
      ('B', 0.7), ('A', 0.2)]
  # A and B tie at 0.5: the name breaks it.
  assert score_fusion.top_k_classes(VIDEO_SCORES['v2'], 2) == [
      ('C', 0.9), ('A', 0.5)]
  assert score_fusion.top_k_classes(VIDEO_SCORES['v3'], 5) == [('A', 1.0)]


def test_class_agnostic_rule_crosses_proposals_with_top_k_classes():
  fused = score_fusion.fuse_results(DETECTIONS, VIDEO_SCORES, top_k=2)
  assert fused['version'] == 'VERSION 1.3'
  assert fused['external_data'] == {'used': False}
  assert sorted(fused['results']) == ['v1', 'v2']
  # v1: proposals [1, 5] (best of 0.9, 0.6 -> 0.9) and [10, 20] (0.5), top
  # labels B 0.7, A 0.2: 0.63, 0.18, 0.35, 0.10, sorted.
  assert _triples(fused['results']['v1']) == [
      ('B', 0.63, (1.0, 5.0)), ('B', 0.35, (10.0, 20.0)),
      ('A', 0.18, (1.0, 5.0)), ('A', 0.1, (10.0, 20.0))]
  # v2: C 0.9 and A 0.5 (the tie with B goes to A) on the one proposal 0.4.
  assert _triples(fused['results']['v2']) == [
      ('C', 0.36, (0.0, 2.0)), ('A', 0.2, (0.0, 2.0))]


def test_class_agnostic_rule_accepts_proposals_without_labels():
  proposals = {'results': {'v1': [{'score': 0.5, 'segment': [0, 1]}]}}
  fused = score_fusion.fuse_results(proposals, VIDEO_SCORES, top_k=1)
  assert _triples(fused['results']['v1']) == [('B', 0.35, (0.0, 1.0))]


def test_per_class_rule_keeps_top_k_labels_and_rescales():
  fused = score_fusion.fuse_results(DETECTIONS, VIDEO_SCORES, top_k=2,
                                    rule=score_fusion.PER_CLASS)
  # v1 top labels B (0.7), A (0.2): C is dropped; A 0.9 * 0.2, B 0.6 * 0.7.
  assert _triples(fused['results']['v1']) == [
      ('B', 0.42, (1.0, 5.0)), ('A', 0.18, (1.0, 5.0))]
  # v2 top labels C, A: its only detection (B) is dropped.
  assert fused['results']['v2'] == []
  top1 = score_fusion.fuse_results(DETECTIONS['results'], VIDEO_SCORES,
                                   top_k=1, rule=score_fusion.PER_CLASS)
  assert set(top1) == {'results'}
  assert _triples(top1['results']['v1']) == [('B', 0.42, (1.0, 5.0))]


def test_bad_inputs_name_the_video():
  with pytest.raises(ValueError, match="scores.json: video v2 has no"):
    score_fusion.fuse_results(DETECTIONS, {'v1': VIDEO_SCORES['v1']}, 2,
                              video_scores_name='scores.json')
  with pytest.raises(ValueError, match=r"video v1\['A'\]: must be a number"):
    score_fusion.fuse_results(DETECTIONS, dict(VIDEO_SCORES, v1={'A': 'x'}), 2)
  with pytest.raises(ValueError, match="entry 0: missing field 'label'"):
    score_fusion.fuse_results({'results': {'v1': [{'score': 1.0, 'segment': [
        0, 1]}]}}, VIDEO_SCORES, 2, rule=score_fusion.PER_CLASS)
  with pytest.raises(ValueError, match='top_k must be at least 1'):
    score_fusion.top_k_classes({'A': 1.0}, 0)


def test_tool_writes_fused_json_and_reports_errors_in_one_line(tmp_path):
  detections = tmp_path / 'detections.json'
  scores = tmp_path / 'scores.json'
  detections.write_text(json.dumps(DETECTIONS))
  scores.write_text(json.dumps({'results': VIDEO_SCORES}))
  output = tmp_path / 'out' / 'fused.json'
  done = subprocess.run(
      [sys.executable, TOOL, '--detections=%s' % detections,
       '--video_scores=%s' % scores, '--top_k=2', '--rule=per_class',
       '--output=%s' % output], capture_output=True, text=True, check=True)
  assert 'Wrote 2 videos, 2 detections' in done.stdout
  fused = json.loads(output.read_text())
  assert _triples(fused['results']['v1']) == [
      ('B', 0.42, (1.0, 5.0)), ('A', 0.18, (1.0, 5.0))]
  scores.write_text(json.dumps({'v1': VIDEO_SCORES['v1']}))
  bad_output = tmp_path / 'bad.json'
  failed = subprocess.run(
      [sys.executable, TOOL, '--detections=%s' % detections,
       '--video_scores=%s' % scores, '--output=%s' % bad_output],
      capture_output=True, text=True)
  assert failed.returncode == 1
  assert failed.stderr.strip().splitlines() == [
      'fuse_video_scores: error: %s: video v2 has no video-level scores' %
      scores]
  assert not bad_output.exists()
