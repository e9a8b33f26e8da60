"""Neural-network building blocks: modules, layers, initialisers, optimizers, training."""
from . import init, optim
from .blocks import Residual
from .layers import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten,
                     GlobalAvgPool2d, Linear, MaxPool2d, ReLU, Sigmoid, Tanh)
from .gates import L0Gate
from .module import Module, Parameter, Sequential, eval_mode, masked
from .train import evaluate, fit

__all__ = ["Module", "Parameter", "Sequential", "masked", "Linear", "Conv2d", "MaxPool2d",
           "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout", "ReLU", "Tanh", "Sigmoid",
           "Flatten", "GlobalAvgPool2d", "Residual", "L0Gate", "eval_mode", "init", "optim",
           "fit", "evaluate"]
