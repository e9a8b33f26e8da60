"""Inference: a trained model compiled into a plan of plain array operations (``compile``)."""
from .plan import Plan, compile

__all__ = ["Plan", "compile"]
