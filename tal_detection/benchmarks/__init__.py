"""What the benchmark tools measure, as library functions.

tools/benchmark_{inference,input,evaluator}.py are flags over these modules:
  timing          timing loops, median statistics, the matmul throughput probe
                  and the machine description every results file carries.
  flops           float-op counts of a built graph (tfprof), by op type.
  inference       SavedModel latency, the scaling runs, training steps/s and
                  the inference report.
  memory_probe    the fresh process the scaling runs measure memory in.
  input_pipeline  records/s and steps/s of the Estimator input pipeline.
  evaluator       synthetic detections and the evaluator's timings.
The package may import builders and model_lib (it builds and runs models);
nothing in the rest of the package imports it.
"""
