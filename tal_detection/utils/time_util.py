"""The one conversion between seconds and feature steps (SPEC §3).

Feature i of a video is centred at t_i = (i * stride_frames + offset_frames) / fps
seconds and covers step interval [i, i + 1) whose centre is i + 0.5. Hence a step
coordinate x maps to t = ((x - 0.5) * stride_frames + offset_frames) / fps and back.
Works on Python numbers, numpy arrays and TF tensors alike.
"""


def seconds_to_steps(seconds, fps, stride_frames, offset_frames):
  """Seconds -> feature-step coordinates."""
  return (seconds * fps - offset_frames) / stride_frames + 0.5


def steps_to_seconds(steps, fps, stride_frames, offset_frames):
  """Feature-step coordinates -> seconds."""
  return ((steps - 0.5) * stride_frames + offset_frames) / fps
