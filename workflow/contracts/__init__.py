"""AWS's contracts, checked offline: requests against botocore's service models with every constraint they
state, and the documented limits of a SageMaker pipeline definition.

Pure: it imports botocore and the `regex` package, nothing of the project, so the definition tests, the
local run and the CLI tests all check with the same code.
"""
