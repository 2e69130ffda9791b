"""Experiments over the library: the paper's ablation study, result summaries.

  ablation_study   the study (tables -> rows -> config fragments) and the
                   planner (effective configs, deduplicated into models)
  ablation_runner  dataset, training + evaluation of each model, reuse of
                   finished runs, the results files
  ablation_report  tables, the paper's orderings, markdown
  eval_summary     a model's evaluation as markdown (tools/summarize_results)
"""
