"""Example module for pyrpoold: on sys.path through python.path in pyrpoold.yaml.

    [0, 1, "demo.add", [1, 2]]          -> 3
    [0, 2, "demo.slow_echo", ["x", 0.5]] -> "x" after half a second
"""
import os
import time


def add(a, b):
    return a + b


def slow_echo(value, seconds=0.1):
    time.sleep(seconds)
    return value


def whoami():
    return os.getpid()
