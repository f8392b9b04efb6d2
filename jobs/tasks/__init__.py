"""Declaring tasks: the registry, retry policies, time-limit declarations, routing.

Every process imports this (the API validates arguments against it, the worker
runs what it declares); it runs nothing itself.
"""
