"""Trained policies for use outside traffic_lam: :func:`export_onnx` writes one as an ONNX model.

Exporting needs the ``onnx`` extra (``pip install -e ".[onnx]"``); running the model needs
only ``onnxruntime`` (see :mod:`traffic_lam.export.onnx` for its inputs and outputs).
"""

from traffic_lam.export.onnx import PolicyLayout, export_onnx, policy_inputs, read_layout

__all__ = ["PolicyLayout", "export_onnx", "policy_inputs", "read_layout"]
