"""Runs in AWS Lambda: keeps the environment's SageMaker endpoint on the model registry's latest approved model.

The function (stacks/endpoint.py) runs `handler.handler` on the Python runtime the construct pins, with
the runtime's own boto3; it imports nothing of the rest of the project and nothing outside the standard
library but boto3, so the asset is this folder as it is. `deployer` holds the logic (plain boto3 calls,
a client given to it, so tests run it against moto's server on loopback); `handler` reads the function's
environment and hands the event to it.
"""
